"""recbce tune on ml-100k (leave-one-out): the shipped space searched from the starter, with the
median pruner and without it, then the configs found retrained over seeds 0-4 and tested.

Each study runs up to TRIALS trials within BUDGET seconds (--timeout: no trial starts after it),
with the same space and seed, so the two best-so-far curves share a time axis.
Each study is the `recbce tune` command's own (`recbce.tune`), kept in BENCH_TUNE_OUT (default
runs/bench-tune): run again, a finished study is read back rather than run again. Test plays
no part in any choice: the retrained configs are the studies' best.yaml, chosen on validation.
Writes bench/results/tune.md.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

import recbce
from bench.measure import load_averages
from recbce import runs
from recbce.config import load_config
from recbce.tuning.study import open_study
from recbce.tuning.tune import make_plan

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = "configs/ml100k-starter.yaml"
SPACE = "configs/spaces/ml100k.yaml"
DATA = ROOT.parent / "shared" / "data" / "ml-100k" / "u.data"
TRIALS = 100
SEEDS = [0, 1, 2, 3, 4]
BUDGET = 2400.0  # seconds a study may start trials in
MARKS = [60, 120, 300, 450, 600, 750, 900]  # seconds into a study at which the curves are read
COMMAND = "make bench ONLY=tune  (or: python -m bench.bench_tune)"


def study(pruner: str) -> tuple[recbce.TuneResult, list[tuple[float, float]], dict]:
    """Run (or read back) one study; its result, its best-so-far curve and its trial counts."""
    out = Path(os.environ.get("BENCH_TUNE_OUT", ROOT / "runs" / "bench-tune")) / f"ml100k-{pruner}"
    result = recbce.tune(CONFIG, SPACE, trials=TRIALS, timeout=BUDGET, out=out, seed=0, pruner=pruner,
                         progress=True)
    plan = make_plan(load_config(CONFIG), CONFIG, Path(SPACE), out, TRIALS, seed=0, pruner=pruner)
    trials = [t for t in open_study(plan).get_trials(deepcopy=False) if t.state.is_finished()]
    start = min(t.datetime_start for t in trials)
    curve, best = [], float("-inf")
    for t in sorted(trials, key=lambda t: t.datetime_complete):
        if t.value is not None and t.value > best:
            best = t.value
        curve.append(((t.datetime_complete - start).total_seconds(), best))
    counts = result.trials["state"].value_counts().to_dict()
    return result, curve, counts


def best_at(curve: list[tuple[float, float]], seconds: float) -> str:
    """The best value so far `seconds` into the study; "ended" once its last trial is done."""
    if seconds > curve[-1][0]:
        return "ended"
    values = [best for at, best in curve if at <= seconds]
    return f"{values[-1]:.4f}" if values else "-"


def retrain(config_path: Path) -> list[float]:
    """Test HR@10 of the config over SEEDS, each trained from scratch and chosen on validation."""
    scores = []
    for seed in SEEDS:
        with tempfile.TemporaryDirectory(prefix="recbce-bench-") as tmp:
            run = recbce.train(config_path, overrides={"run.dir": tmp, "seed": seed}, overwrite=True)
        scores.append(run.metrics["hr@10"])
        print(f"{config_path} seed {seed}: test HR@10 {scores[-1]:.4f}", flush=True)
    return scores


def studies_table(found: dict) -> str:
    lines = ["| pruner | trials (complete / pruned / failed) | wall time | " +
             " | ".join(f"{s / 60:g} min" for s in MARKS) + " | best valid HR@10 |",
             "|---|---|---:|" + "---:|" * len(MARKS) + "---:|"]
    for pruner, (result, curve, counts) in found.items():
        done = " / ".join(str(counts.get(s, 0)) for s in ("complete", "pruned", "failed"))
        lines.append(f"| {pruner} | {done} | {curve[-1][0] / 60:.1f} min | " +
                     " | ".join(best_at(curve, s) for s in MARKS) + f" | {result.best_value:.4f} |")
    return "\n".join(lines)


def seeds_table(scores: dict[str, list[float]]) -> str:
    lines = ["| config | " + " | ".join(f"seed {s}" for s in SEEDS) + " | mean |",
             "|---|" + "---:|" * (len(SEEDS) + 1)]
    for name, values in scores.items():
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in values) +
                     f" | **{statistics.mean(values):.4f}** |")
    return "\n".join(lines)


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    os.chdir(ROOT)  # the config names its data relative to the project root
    load = load_averages()
    found = {pruner: study(pruner) for pruner in ("median", "none")}
    scores = {CONFIG: retrain(ROOT / CONFIG)}
    for pruner, (result, _, _) in found.items():
        scores[f"best.yaml, pruner {pruner}"] = retrain(result.out / "best.yaml")
    text = (
        "## ml-100k, `recbce tune` from the starter (`bench_tune.py`)\n\n"
        f"`recbce tune -c {CONFIG} -s {SPACE} --trials {TRIALS} --timeout {BUDGET:.0f} --seed 0`,\n"
        "one worker, with `--pruner median`, then with `--pruner none`.\n"
        "Best validation HR@10 so far against wall time since the first trial, and at the end:\n\n"
        f"{studies_table(found)}\n\n"
        "Test HR@10 of each study's best.yaml (chosen on validation) and of the starter, each\n"
        "trained from scratch with seeds 0-4:\n\n"
        f"{seeds_table(scores)}\n\n"
        f"Load average when the bench started: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min).\n"
        f"Reproduce: `{COMMAND}`\n"
    )
    runs.write_text(HERE / "results" / "tune.md", text)
    print(text)


if __name__ == "__main__":
    main()
