"""Tuning: a study of trials (each an ordinary run folder) that Optuna steers on validation.
space: the keys that vary; study: Optuna's storage and sampler; trials: running them;
report: what a study leaves; tune: the whole command."""
