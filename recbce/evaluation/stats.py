"""The statistics `recbce compare` reports: bootstrap intervals, paired and unpaired tests, Holm.

scipy is an optional extra (`pip install 'recbce[stats]'`): the tests come from it.
"""

from __future__ import annotations

import math

import numpy as np

from recbce.errors import MissingExtra

INSTALL_HINT = "pip install 'recbce[stats]'"
LEVEL = 0.95
RESAMPLE_BLOCK = 64  # bootstrap resamples drawn at once: a [block, users] matrix of counts


def require_scipy():
    """scipy.stats, else one line saying how to install it."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingExtra(f"recbce compare needs scipy: {INSTALL_HINT}") from None
    return stats


def bootstrap_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """[resamples, columns] means of `values` ([users, columns]) over users drawn with
    replacement; every column sees the same draws, so differences of columns are paired."""
    rng = np.random.default_rng(seed)
    n = len(values)
    out = np.empty((resamples, values.shape[1]))
    for start in range(0, resamples, RESAMPLE_BLOCK):
        block = min(RESAMPLE_BLOCK, resamples - start)
        drawn = rng.integers(0, n, size=(block, n)) + n * np.arange(block)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=block * n).reshape(block, n)
        out[start:start + block] = counts @ values / n
    return out


def percentile_interval(replicates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central LEVEL interval of bootstrap replicates, per column."""
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail], axis=0)
    return low, high


def paired_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided p of the paired t-test and of the Wilcoxon signed-rank test (zero
    differences dropped, scipy's default) of a - b; 1.0 when a and b never differ."""
    stats = require_scipy()
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if not np.any(diff != 0):
        return 1.0, 1.0
    if np.all(diff == diff[0]):  # no spread: the t statistic is infinite
        p_t = 0.0
    else:
        p_t = float(stats.ttest_rel(a, b).pvalue)
    return p_t, float(stats.wilcoxon(a, b).pvalue)


def unpaired_tests(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sided p of Welch's t-test and of the Mann-Whitney U test of a against b."""
    stats = require_scipy()
    p_t = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    if math.isnan(p_t):  # neither group varies: the means are equal or differ surely
        p_t = 1.0 if np.mean(a) == np.mean(b) else 0.0
    return p_t, float(stats.mannwhitneyu(a, b).pvalue)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (NaNs stay NaN, not counted)."""
    found = [(p, i) for i, p in enumerate(pvalues) if not math.isnan(p)]
    adjusted = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(found)):
        running = max(running, min(1.0, (len(found) - rank) * p))
        adjusted[i] = running
    return adjusted


def mean_and_error(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard error (sample standard deviation / √n) of one-dimensional values."""
    values = np.asarray(values, dtype=float)
    error = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else float("nan")
    return float(values.mean()), error
