"""Evaluation shared by torchrun ranks (issue 44 part 2): Gowalla's test ranked by 2 processes
of 1 thread each against 1 process of 1 thread, the same saved model and the same users.

The model is configs/gowalla-best.yaml, seed 0, from BENCH_EVAL_RUN (default
runs/bench-fold-in/everyone, trained here if absent). Each launch loads the run, then times
REPEATS full test evaluations (evaluate_split, as training's final test calls it) after one
untimed warm-up; the median is reported. Process start and data loading are not in the times.
Writes bench/results/shared_eval.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import recbce
from bench.measure import load_average, timed
from recbce import runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs" / "gowalla-best.yaml"
REPEATS = 3
COMMAND = "make bench ONLY=shared_eval  (or: python -m bench.bench_shared_eval)"


def worker(run_dir: str, out: str) -> None:
    """One rank (or the only process): time the test evaluation; rank 0 writes what it saw."""
    import torch

    from recbce.evaluation.ranking import evaluate_split
    from recbce.runs.trained import load_trained
    from recbce.training import distributed

    torch.set_num_threads(1)
    config, dataset, model = load_trained(run_dir)
    with distributed.session("cpu") as context:
        share = distributed.evaluation_share(context)
        seconds, metrics = [], None
        for repeat in range(REPEATS + 1):
            took, metrics = timed(evaluate_split, model, dataset, "test", config.eval, seed=config.seed,
                                  share=share)
            if repeat:  # the first is a warm-up
                seconds.append(took)
        if context.is_main:
            Path(out).write_text(json.dumps({"seconds": seconds, "metrics": metrics,
                                             "processes": context.world_size}))


def launch(run_dir: Path, processes: int, out: Path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    # This module again, as a module from the repository root (torchrun's -m: each rank runs it so).
    module = ["-m", "bench.bench_shared_eval", "--worker", str(run_dir), str(out)]
    if processes == 1:
        command = [sys.executable, *module]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}",
                   "--master_addr", "127.0.0.1", "--master_port", "29517", *module]
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return json.loads(out.read_text())


def main() -> None:
    run_dir = Path(os.environ.get("BENCH_EVAL_RUN", ROOT / "runs" / "bench-fold-in" / "everyone"))
    if not (run_dir / "summary.json").exists():
        recbce.train(str(CONFIG), overrides={"run.dir": str(run_dir.parent), "run.name": run_dir.name},
                     overwrite=True)
    load = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        one = launch(run_dir, 1, Path(tmp) / "one.json")
        two = launch(run_dir, 2, Path(tmp) / "two.json")
    same = one["metrics"] == two["metrics"]
    t1, t2 = statistics.median(one["seconds"]), statistics.median(two["seconds"])
    text = (
        "## Evaluation shared by torchrun ranks (Gowalla test)\n\n"
        f"`{COMMAND}`. gowalla-best's saved model ({run_dir.name}), all test users ranked against "
        f"every item, median of {REPEATS} after a warm-up, 1 thread per process.\n\n"
        "| processes × threads | seconds | speed-up |\n|---|---|---|\n"
        f"| 1 × 1 | {t1:.2f} | 1.00 |\n| 2 × 1 | {t2:.2f} | {t1 / t2:.2f} |\n\n"
        f"Metrics identical to the last digit: {'yes' if same else 'NO'} "
        f"(Recall@20 {one['metrics']['recall@20']:.4f}).\n\n"
        f"Load average when the bench started: {load:.2f} (1 min).\n")
    runs.write_text(HERE / "results" / "shared_eval.md", text)
    print(text)
    if not same:
        raise SystemExit("the shared evaluation's metrics differ from one process's")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
