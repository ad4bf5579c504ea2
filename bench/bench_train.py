"""Training throughput on Gowalla: recbce's engine against a dense-Adam baseline, same run.

Two modes, each timed over the same steps of one epoch's order with the library's own
train_step (sampling included):
- per-pair BCE, 4 uniform negatives per positive, batch 65,536: examples/s (positives +
  negatives), RowAdam on sparse rows vs torch.optim.Adam on the dense tables;
- shared negatives, one pool of 1,024 items per batch of 4,096, cosine + softmax (the
  gowalla configs' pool at a larger batch): scored pairs/s, RowAdam vs dense Adam.
Both modes also time torch's own lazy Adam (torch.optim.SparseAdam) in the same run, and
train each recipe for a few epochs with RowAdam and with SparseAdam, to compare the
quality they reach (validation Recall@20) at the same budget.
Writes bench/results/train.md. Reproduce: make bench ONLY=train
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

import recbce
from bench.measure import bench_threads, peak_mib
from recbce import runs
from recbce.config import load_config
from recbce.data.dataset import load_dataset
from recbce.training.loop import keep_freed_memory, next_batch, train_step
from recbce.training.state import prepare

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "train.md"
GLIBC_DEFAULT_PAD = 128 * 1024  # M_TOP_PAD's default: freed heap goes back to the OS
STEPS = {"per-pair": 10, "shared": 30}  # full batches, after one warm-up step each
QUALITY_EPOCHS = {"per-pair": 4, "shared": 2}  # the same budget for both optimizers
MODES = {
    "per-pair": ["sampler.kind=uniform", "sampler.ratio=4", "loss.name=bce", "train.batch_size=65536"],
    "shared": ["sampler.kind=shared", "sampler.ratio=1024", "loss.name=softmax", "model.bias=false",
               "model.scorer=cosine", "model.temperature=0.1", "train.batch_size=4096"],
}


def throughput(dataset, overrides: list[str], optimizer: str, steps: int) -> float:
    """Scored pairs per second of the median step among `steps` (after one warm-up step).

    The median, not the total: on a shared host a few steps stall for reasons of their own."""
    config = load_config(ROOT / "configs" / "gowalla.yaml", overrides + [f"train.optimizer={optimizer}"])
    run = prepare(config, dataset)
    batches = torch.randperm(len(dataset.train), generator=run.generator).split(config.train.batch_size)
    seconds = []
    for batch in batches[: steps + 1]:
        started = time.perf_counter()
        train_step(run, *next_batch(run, batch))
        seconds.append(time.perf_counter() - started)
    return config.train.batch_size * (1 + config.sampler.ratio) / statistics.median(seconds[1:])


def main() -> None:
    # BENCH_THREADS=1 on a shared machine, where a second intra-op thread spin-waits on a busy core.
    torch.set_num_threads(bench_threads(torch.get_num_threads()))
    config = load_config(ROOT / "configs" / "gowalla.yaml")
    if not Path(config.data.path).exists():
        raise SystemExit(f"bench_train needs {config.data.path} (run from the project root)")
    dataset = load_dataset(config.data, config.seed)
    rows = []
    for mode, overrides in MODES.items():
        keep_freed_memory(GLIBC_DEFAULT_PAD)
        plain = throughput(dataset, overrides, "row_adam", STEPS[mode])
        keep_freed_memory()  # as `recbce train` does
        baseline = throughput(dataset, overrides, "adam", STEPS[mode])
        engine = throughput(dataset, overrides, "row_adam", STEPS[mode])
        library = throughput(dataset, overrides, "sparse_adam", STEPS[mode])
        rows.append(f"| {mode} | {engine / 1e6:,.1f} M/s | {plain / 1e6:,.1f} M/s | "
                    f"{baseline / 1e6:,.1f} M/s | {library / 1e6:,.1f} M/s | {engine / baseline:.2f}x | "
                    f"{engine / library:.2f}x |")
        print(rows[-1], flush=True)
    quality_rows = [quality_row(mode, overrides) for mode, overrides in MODES.items()]
    peak = peak_mib()
    text = (
        "## Training throughput (bench_train)\n\n"
        "`make bench ONLY=train` (bench/bench_train.py): Gowalla (LightGCN split, 90% of train),\n"
        f"d = 64, {torch.get_num_threads()} torch threads; the library's train_step, sampling included;\n"
        f"rate of the median step of {STEPS['per-pair']} (per-pair) or {STEPS['shared']} (shared).\n"
        "per-pair: BCE, 4 uniform negatives per positive (examples = positives + negatives),\n"
        "batch 65,536. shared: one pool of 1,024 items per batch of 4,096, cosine + softmax,\n"
        "accidental hits masked (scored pairs). Baseline: the same model and step with dense\n"
        "torch.optim.Adam, measured in the same run. `recbce train` keeps up to 256 MB of freed\n"
        "heap (glibc M_TOP_PAD, recbce.training.loop.keep_freed_memory); the third column is RowAdam\n"
        "with glibc's default, which returns the step's large temporaries to the OS.\n\n"
        "| mode | RowAdam (recbce) | RowAdam, glibc default | dense Adam | SparseAdam (torch) "
        "| RowAdam vs dense Adam | RowAdam vs SparseAdam |\n"
        "|---|---|---|---|---|---|---|\n"
        + "\n".join(rows) + "\n\n"
        "Quality at the same budget: each recipe trained by `recbce train` (seed 0, lr 1e-2, the\n"
        "mode's settings) for the epochs shown with each lazy Adam; validation Recall@20 after the\n"
        "last epoch, and the training seconds of the run (same machine, same run of this script).\n\n"
        "| mode | epochs | RowAdam Recall@20 | SparseAdam Recall@20 | RowAdam s | SparseAdam s |\n"
        "|---|---|---|---|---|---|\n"
        + "\n".join(quality_rows) + f"\n\nPeak resident memory of the whole benchmark: {peak:,.0f} MB.\n"
    )
    runs.write_text(RESULTS, text)
    print(text)


def quality(overrides: list[str], optimizer: str, epochs: int) -> tuple[float, float]:
    """(validation Recall@20 after `epochs`, training seconds) of a real `recbce train` run."""
    config = load_config(ROOT / "configs" / "gowalla.yaml", overrides + [
        f"train.optimizer={optimizer}", "train.lr=1e-2", f"train.epochs={epochs}", "train.patience=0",
        f"train.eval_every={epochs}", "run.dir=runs/bench-train", f"run.name={optimizer}"])
    run = recbce.train(config, overwrite=True)
    metrics = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    return metrics[-1]["valid/recall@20"], run.summary["train_seconds"]


def quality_row(mode: str, overrides: list[str]) -> str:
    epochs = QUALITY_EPOCHS[mode]
    ours, ours_s = quality(overrides, "row_adam", epochs)
    theirs, theirs_s = quality(overrides, "sparse_adam", epochs)
    row = f"| {mode} | {epochs} | {ours:.4f} | {theirs:.4f} | {ours_s:.1f} | {theirs_s:.1f} |"
    print(row, flush=True)
    return row


if __name__ == "__main__":
    main()
