"""`recbce tune` (registered in recbce.cli.app): parse, call recbce.tuning, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recbce.cli.console import console, print_wide, show_progress, verbosity


def tune(
    ctx: typer.Context,
    config: Annotated[list[Path], typer.Option("--config", "-c", help="The base YAML config (must "
                      "validate); again for other data sets every trial also trains.")],
    space: Annotated[Path, typer.Option("--space", "-s", help="YAML: config keys and what may vary.")],
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials in the study, in all.")] = 20,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Start no trial after this many "
                       "seconds.")] = None,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Worker processes on this machine.")] = 1,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna RDB URL shared by machines "
                       "(default: a journal file in the study folder).")] = None,
    study: Annotated[str | None, typer.Option("--study", help="Study name (default: the folder's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Study folder (default "
                   "runs/tune-<config>).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampler.")] = 0,
    pruner: Annotated[str, typer.Option("--pruner", help="median, hyperband or none.")] = "median",
    seeds: Annotated[int, typer.Option("--seeds", help="Runs per trial (the config's seed, +1, ...); "
                     "the trial's value is their mean validation.")] = 1,
    reference: Annotated[list[float] | None, typer.Option("--reference", help="With several --config: "
                         "each one's figure, in order; a trial scores the mean of validation / "
                         "reference.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar, no per-trial lines.")]
    = False,
):
    """Search the space for the config with the best validation metric; trials are run folders.

    Running the same command again continues the study up to --trials in all.

    Example: recbce tune -c configs/ml100k-starter.yaml -s configs/spaces/ml100k.yaml --trials 100

    One recipe for several data sets: -c a.yaml -c b.yaml --reference 0.26 --reference 0.21
    """
    from recbce.cli.views import trials_table
    from recbce.tuning.tune import tune as run_tune

    quiet = verbosity(ctx, quiet, False)[0]
    result = run_tune(config, space, trials=trials, timeout=timeout, workers=workers, storage=storage,
                      study=study, out=out, seed=seed, pruner=pruner, seeds=seeds,
                      references=reference or (),
                      progress=show_progress(quiet),
                      log=(lambda *a, **k: None) if quiet else console.print)
    print_wide(trials_table(result.trials, f"trials of {result.out}"))
    if result.best_config is None:
        console.print("no trial finished: nothing to choose (see the error column)", highlight=False)
        raise typer.Exit(1)
    console.print(f"best: valid {result.metric} {result.best_value:.4f}", highlight=False)
    for config, test in zip(result.best_configs, result.tests, strict=True):
        path = result.out / f"{config.run.name}.yaml"
        shown = ", ".join(f"{name} {value:.4f}" for name, value in test.items())
        console.print(f"{path} (recbce train --config {path}): test metrics of the chosen trial (scored "
                      f"once, after choosing on validation): {shown}", highlight=False, soft_wrap=True)
    console.print("wrote " + ", ".join(str(path) for path in result.files), highlight=False, soft_wrap=True)
