"""torch.compile (inductor, CPU) on the training step against eager (issue 44 part 4).

Two recipes on Gowalla: the shared pool (configs/gowalla-best.yaml: cosine + item bias,
user history mix, decoupled softmax over one pool of 1,024 per batch of 1,024, row_adam) and
the per-pair one (configs/gowalla.yaml: dot, BCE with 4 uniform negatives per positive, batch
8,192, adam). Per recipe, one process: the data is loaded once, BATCHES batches are drawn once,
then eager and compiled trainers (each built from the same seed) take the same batches in
ROUNDS interleaved rounds; a round times STEPS steps after WARMUP untimed ones. The model and
the loss are wrapped with torch.compile; the first compiled step's time (tracing and code
generation, with an empty compiler cache) is reported apart; the eager trainer takes that
first batch too, so both stay in step. Also reported: the largest difference between the eager and
the compiled losses over the timed steps of the first round. Writes bench/results/compile.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

# A fresh compiler cache: the first compiled step pays the whole compilation, as a user's first
# run does (a warm cache from an earlier run would hide it).
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="recbce-inductor-")

import torch  # noqa: E402

from bench.measure import load_average, timed  # noqa: E402
from recbce import runs  # noqa: E402
from recbce.config import load_config  # noqa: E402
from recbce.data.dataset import load_dataset  # noqa: E402
from recbce.training import distributed  # noqa: E402
from recbce.training.loop import next_batch, train_step  # noqa: E402
from recbce.training.state import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "compile.md"
COMMAND = "make bench ONLY=compile"
RECIPES = {"shared pool (gowalla-best)": "configs/gowalla-best.yaml",
           "per pair (gowalla)": "configs/gowalla.yaml"}
THREADS, WARMUP, STEPS, ROUNDS = 2, 5, 40, 3


def trainer(config, dataset, compiled: bool):
    run = prepare(config, dataset, distributed.Context(), lambda *args, **kwargs: None, False)
    if compiled:
        run.trainer = torch.compile(run.trainer)
        run.loss_fn = torch.compile(run.loss_fn)
    return run


def steps(run, batches) -> tuple[float, list[float]]:
    """Seconds per step over the timed batches, and their losses."""
    for batch, valid in batches[:WARMUP]:
        train_step(run, batch, valid)
    started, losses = time.perf_counter(), []
    for batch, valid in batches[WARMUP:]:
        losses.append(train_step(run, batch, valid))
    return (time.perf_counter() - started) / (len(batches) - WARMUP), losses


def measure(path: str) -> dict:
    config = load_config(ROOT / path)
    dataset = load_dataset(config.data, config.seed)
    eager, compiled = trainer(config, dataset, False), trainer(config, dataset, True)
    order = torch.randperm(len(dataset.train.users), generator=torch.Generator().manual_seed(0))
    size = config.train.batch_size
    batches = [next_batch(eager, order[i * size:(i + 1) * size]) for i in range(WARMUP + STEPS)]
    try:
        first, _ = timed(train_step, compiled, *batches[0])
    except Exception as err:  # the compiler's own failure is the finding
        return {"eager_ms": statistics.median(steps(eager, batches)[0] for _ in range(ROUNDS)) * 1000,
                "failed": f"{type(err).__name__}: {str(err).strip().splitlines()[0][:120]}"}
    train_step(eager, *batches[0])  # the same first step: both trainers stay in step
    times = {"eager": [], "compiled": []}
    difference = None
    for _ in range(ROUNDS):
        eager_s, eager_losses = steps(eager, batches)
        compiled_s, compiled_losses = steps(compiled, batches)
        times["eager"].append(eager_s)
        times["compiled"].append(compiled_s)
        if difference is None:
            difference = max(abs(a - b) for a, b in zip(eager_losses, compiled_losses, strict=True))
    eager_ms = statistics.median(times["eager"]) * 1000
    compiled_ms = statistics.median(times["compiled"]) * 1000
    return {"eager_ms": eager_ms, "compiled_ms": compiled_ms, "first_s": first,
            "difference": difference, "steps_per_epoch": -(-len(dataset.train.users) // size)}


def main() -> None:
    if not (ROOT.parent / "shared" / "data" / "gowalla" / "train.txt").is_file():
        print("bench compile: skipped, ../shared/data/gowalla is absent")
        return
    os.chdir(ROOT)  # the configs' data paths are relative to the project
    torch.set_num_threads(THREADS)
    load = load_average()
    lines = ["## torch.compile on the training step (Gowalla)", "",
             f"`{COMMAND}` (bench/bench_compile.py): {THREADS} threads, the same {STEPS} batches "
             f"per round after {WARMUP} warm-up steps, median of {ROUNDS} interleaved rounds; "
             f"torch {torch.__version__}, inductor on CPU. Load average {load:.1f} on "
             f"{os.cpu_count()} cores when it started.", "",
             "| recipe | eager ms/step | compiled ms/step | compiled/eager | first compiled step s "
             "| steps to repay it | largest loss difference |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, path in RECIPES.items():
        print(f"bench compile: {label}", file=sys.stderr, flush=True)
        torch._dynamo.reset()
        r = measure(path)
        if "failed" in r:
            lines.append(f"| {label} | {r['eager_ms']:.1f} | fails to compile: {r['failed']} | | | | |")
            continue
        saved = r["eager_ms"] - r["compiled_ms"]
        repay = f"{(r['first_s'] * 1000 - r['compiled_ms']) / saved:,.0f}" if saved > 0 else "never"
        lines.append(f"| {label} | {r['eager_ms']:.1f} | {r['compiled_ms']:.1f} | "
                     f"{r['compiled_ms'] / r['eager_ms']:.2f}x | {r['first_s']:.1f} | {repay} "
                     f"(an epoch: {r['steps_per_epoch']:,}) | {r['difference']:.1e} |")
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    runs.write_text(RESULT, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
