"""Where a LightGCN training step's time goes on Gowalla, measured with the library's own step.

configs/gowalla-lightgcn.yaml as shipped, and its BPR variant (one uniform negative per
positive, the paper's loss and sampler, dot scores, L2 1e-4 on E⁰); for each, the median
over STEPS steps (after one warm-up step) of:
- sampling: building the batch (recbce.training.loop.next_batch);
- propagation forward / backward: the sparse products Â·E (SymmetricProduct, timed inside);
- optimizer: RowAdam's step over the (dense) table gradients;
- rest: scoring, the loss and the backward through them (the step minus the above).
Seconds per epoch are the median step times the steps of an epoch. The section also gives
the figures of the shipped run, read from its folder (runs/gowalla-lightgcn) and from the
log of `/usr/bin/time -v` around it (runs/gowalla-lightgcn.log), when they are there.
Writes bench/results/lightgcn.md. Reproduce: make bench ONLY=lightgcn
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from pathlib import Path

import torch

from bench.measure import bench_threads, load_average, peak_mib, timed
from recbce import runs
from recbce.config import load_config
from recbce.data.dataset import load_dataset
from recbce.models import lightgcn
from recbce.training.loop import keep_freed_memory, next_batch, train_step
from recbce.training.state import prepare

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "lightgcn.md"
RUN = ROOT / "runs" / "gowalla-lightgcn"  # `recbce train --config configs/gowalla-lightgcn.yaml`
RUN_LOG = ROOT / "runs" / "gowalla-lightgcn.log"  # its /usr/bin/time -v output
STEPS = 8
MODES = {
    "shipped (shared pool, decoupled softmax)": [],
    "BPR (1 uniform negative, dot, L2 1e-4)": [
        "sampler.kind=uniform", "sampler.ratio=1", "loss.name=bpr", "loss.l2=1e-4", "model.scorer=dot",
        "model.bias=false", "train.lr=1e-3"],
}
PARTS = ("sampling", "propagation forward", "propagation backward", "optimizer", "rest")


class Clock:
    """Seconds spent in each part during one step."""

    def __init__(self):
        self.spent = dict.fromkeys(PARTS, 0.0)

    def timed(self, part: str, action, *args):
        seconds, result = timed(action, *args)
        self.spent[part] += seconds
        return result


def timed_product(clock: Clock):
    """SymmetricProduct with its forward and backward timed into `clock`."""
    plain = lightgcn.SymmetricProduct

    class Timed(torch.autograd.Function):
        @staticmethod
        def forward(ctx, graph, x):
            ctx.graph = graph
            return clock.timed("propagation forward", torch.sparse.mm, graph, x)

        @staticmethod
        def backward(ctx, grad):
            return None, clock.timed("propagation backward", torch.sparse.mm, ctx.graph, grad.contiguous())

    return plain, Timed


def breakdown(dataset, overrides: list[str]) -> tuple[dict, int]:
    """(median seconds per part and for the whole step, steps per epoch)."""
    config = load_config(ROOT / "configs" / "gowalla-lightgcn.yaml", overrides)
    run = prepare(config, dataset, log=lambda *args, **kwargs: None)
    batches = torch.randperm(len(dataset.train), generator=run.generator).split(config.train.batch_size)
    clock = Clock()
    plain, lightgcn.SymmetricProduct = timed_product(clock)
    step_optimizer = run.optimizer.step
    run.optimizer.step = lambda *args: clock.timed("optimizer", step_optimizer)
    records = []
    try:
        for pairs in batches[:STEPS + 1]:
            clock.spent = dict.fromkeys(PARTS, 0.0)
            started = time.perf_counter()
            batch, valid = clock.timed("sampling", next_batch, run, pairs)
            train_step(run, batch, valid)
            total = time.perf_counter() - started
            clock.spent["rest"] = total - sum(clock.spent.values())
            records.append({**clock.spent, "step": total})
    finally:
        lightgcn.SymmetricProduct = plain
    medians = {part: statistics.median(r[part] for r in records[1:]) for part in (*PARTS, "step")}
    return medians, len(batches)


def shipped_run() -> str:
    """The shipped run's epochs (seconds, validation Recall@20), test metrics and peak memory."""
    if not (RUN / "summary.json").exists():
        return f"No finished run in {RUN.relative_to(ROOT)}: its figures are left out.\n"
    summary = json.loads((RUN / "summary.json").read_text())
    epochs = [json.loads(line) for line in (RUN / "metrics.jsonl").read_text().splitlines()]
    rows = "\n".join(f"| {e['epoch']} | {e['seconds']:,.0f} | {e['valid/recall@20']:.4f} |" for e in epochs)
    log = RUN_LOG.read_text(errors="replace") if RUN_LOG.exists() else ""
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)
    memory = f"{int(peak[1]) / 1024:,.0f} MiB" if peak else "not recorded"
    test = summary["test"]
    return (
        "The shipped run (`recbce train --config configs/gowalla-lightgcn.yaml` under `/usr/bin/time -v`, "
        f"folder {RUN.relative_to(ROOT)}; docs/results.md says how it ran): "
        f"validation chose epoch {summary['best_epoch']} of "
        f"{len(epochs)}; test Recall@20 **{test['recall@20']:.4f}**, NDCG@20 **{test['ndcg@20']:.4f}**; "
        f"peak resident memory {memory} (`/usr/bin/time -v`).\n\n"
        "| epoch | training s | validation Recall@20 |\n|---:|---:|---:|\n" + rows + "\n"
    )


def main() -> None:
    torch.set_num_threads(bench_threads(torch.get_num_threads()))
    keep_freed_memory()  # as `recbce train` does
    config = load_config(ROOT / "configs" / "gowalla-lightgcn.yaml")
    if not Path(config.data.path).exists():
        raise SystemExit(f"bench_lightgcn needs {config.data.path} (run from the project root)")
    dataset = load_dataset(config.data, config.seed)
    load = load_average()
    rows = []
    for mode, overrides in MODES.items():
        medians, steps = breakdown(dataset, overrides)
        step = medians["step"]
        shares = " | ".join(f"{medians[p] * 1e3:,.0f} ms ({medians[p] / step:.0%})" for p in PARTS)
        rows.append(f"| {mode} | {step:.2f} s | {shares} | {steps} | {step * steps:,.0f} s |")
        print(rows[-1], flush=True)
    peak = peak_mib()
    text = (
        "## LightGCN: where a training step goes (bench_lightgcn)\n\n"
        "`make bench ONLY=lightgcn` (bench/bench_lightgcn.py): configs/gowalla-lightgcn.yaml\n"
        f"(Gowalla, 95% of train; d = 64, 3 layers, batch {config.train.batch_size:,}) and its BPR variant;\n"
        f"{torch.get_num_threads()} torch threads; the library's train_step; median of {STEPS} steps\n"
        "after a warm-up step. Propagation: the 3 sparse products Â·E of the forward pass and\n"
        "the 3 of the backward pass (SymmetricProduct, timed inside); rest: scoring, loss and\n"
        "their backward. Epoch: median step x steps per epoch (evaluation not included).\n"
        f"Load average {load:.1f} on {os.cpu_count()} cores when it started (above the cores, other\n"
        "jobs shared them: the seconds stretch with the load).\n\n"
        f"| mode | step | {' | '.join(PARTS)} | steps/epoch | epoch |\n"
        f"|---|---|{'---|' * len(PARTS)}---|---|\n"
        + "\n".join(rows) + f"\n\nPeak resident memory of the benchmark: {peak:,.0f} MB.\n\n"
        + shipped_run()
    )
    runs.write_text(RESULTS, text)
    print(text)


if __name__ == "__main__":
    main()
