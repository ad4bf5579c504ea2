"""The cost curve: load, train and evaluate on generated long-tail logs of 1 M to 100 M rows.

Per size (users = rows / 50, items = rows / 200: 100 M rows over 2 M users and 500 k
items), each stage in a fresh child process so its peak resident memory is its own:
- load: `load_dataset` of the TSV (read, duplicates dropped, 70/10/20 random split, CSR);
- per-pair: BCE, 4 uniform negatives per positive, batch 65,536, RowAdam;
- shared: configs/gowalla-best.yaml's recipe without model.history (cosine / 0.1 + item
  bias, decoupled softmax over one pool of 1,024 per batch of 1,024, RowAdam);
- eval: full ranking (K = 20, train + valid excluded) of 10,000 test users drawn once.
Training runs a fixed number of steps (median step, after one warm-up) extrapolated to a
full epoch; evaluation is extrapolated to every test user. Both extrapolations are linear.
The training and evaluation children load the data themselves (their peak includes it);
their "stage peak" is the high-water mark after loading (Linux clear_refs), when available.
Writes bench/results/scale.md. Reproduce: make bench ONLY=scale (SCALE_SIZES="1 10" for a part).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.measure import (
    bench_threads,
    cpu_seconds,
    high_water_mib,
    in_child,
    load_averages,
    peak_mib,
    reset_high_water,
    timed,
)
from bench.scale_report import report, table_lines
from recbce import runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIZES = (1, 10, 30, 100)  # million generated rows
USERS_PER_ROW, ITEMS_PER_ROW = 1 / 50, 1 / 200
CHUNK = 10_000_000  # rows generated and written at a time
STEPS = {"per-pair": 10, "shared": 30}
EVAL_USERS = 10_000
COMMAND = "make bench ONLY=scale  (or: python -m bench.bench_scale)"
MODES = {
    "per-pair": ["sampler.kind=uniform", "sampler.ratio=4", "loss.name=bce", "model.bias=true",
                 "train.batch_size=65536", "train.optimizer=row_adam"],
    "shared": ["model.scorer=cosine", "model.temperature=0.1", "model.bias=true", "sampler.kind=shared",
               "sampler.ratio=1024", "loss.name=decoupled_softmax", "train.batch_size=1024",
               "train.optimizer=row_adam", "train.lr=2e-2"],
}


def long_tail(rng: np.random.Generator, size: int, n: int, exponent: float) -> np.ndarray:
    """`n` indices in [0, size) with density ∝ x^(1/exponent − 1) (exponent > 1: a long tail,
    the least popular index still drawn about n / (exponent · size) times), in a fixed shuffled
    order so popularity is not the index order."""
    ranks = (size * rng.random(n) ** exponent).astype(np.int64)
    return np.random.default_rng(size).permutation(size)[ranks]


def shape(millions: float) -> tuple[int, int, int]:
    rows = int(millions * 1_000_000)
    return rows, max(1, int(rows * USERS_PER_ROW)), max(1, int(rows * ITEMS_PER_ROW))


def write_log(path: Path, rows: int, n_users: int, n_items: int, seed: int = 0) -> Path:
    """`user item` lines, CHUNK rows at a time (pyarrow's CSV writer): users' activity and
    items' popularity both long-tailed (exponents 1.25 and 2: the most active
    user holds a few % of the catalogue at 1 M rows, so a uniform sampler is not starved)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    options = pacsv.WriteOptions(include_header=False, delimiter="\t")
    schema = pa.schema([("user", pa.int64()), ("item", pa.int64())])
    with pacsv.CSVWriter(path, schema, write_options=options) as writer:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            writer.write_table(pa.table({"user": long_tail(rng, n_users, n, 1.25),
                                         "item": long_tail(rng, n_items, n, 2.0)}, schema=schema))
    return path


def config_for(path: Path, mode: str | None = None):
    from recbce.config import DataConfig, load_config

    config = load_config(ROOT / "configs" / "gowalla.yaml", MODES.get(mode, []))
    data = DataConfig(path=str(path), format="tsv", split={"test_ratio": 0.2, "valid_ratio": 0.1})
    return config.model_copy(update={"data": data})


def gib(mib: float | None) -> float | None:
    """scale.md's unit, GiB, from bench.measure's MiB."""
    return None if mib is None else mib / 1024


def stage_peak(fresh: bool) -> float | None:
    """The high-water mark since loading (GiB), if `reset_high_water` could restart it then."""
    return gib(high_water_mib()) if fresh else None


def loaded(path: Path, mode: str | None = None):
    from recbce.data.dataset import load_dataset

    config = config_for(path, mode)
    seconds, dataset = timed(load_dataset, config.data, config.seed)
    return config, dataset, seconds


def run_load(path: Path) -> dict:
    _, dataset, seconds = loaded(path)
    return {"seconds": seconds, "kept": len(dataset.train) + len(dataset.valid) + len(dataset.test),
            "train": len(dataset.train), "users": dataset.n_users, "items": dataset.n_items}


def run_train(path: Path, mode: str) -> dict:
    import torch

    from recbce.training.loop import keep_freed_memory, next_batch, train_step
    from recbce.training.state import prepare

    config, dataset, load_s = loaded(path, mode)
    load_peak, fresh = gib(peak_mib()), reset_high_water()
    keep_freed_memory()  # as `recbce train` does
    run = prepare(config, dataset, log=lambda *a, **k: None)
    batch_size = config.train.batch_size
    order = torch.randperm(len(dataset.train), generator=run.generator)
    seconds, updated = [], []
    for pairs in order.split(batch_size)[: STEPS[mode] + 1]:
        started = time.perf_counter()
        train_step(run, *next_batch(run, pairs))
        seconds.append(time.perf_counter() - started)
        updated.append(updated_rows(run.model))
    step = statistics.median(seconds[1:])
    steps = -(-len(dataset.train) // batch_size)
    return {"load_seconds": load_s, "step": step, "epoch": step * steps, "steps": steps,
            "per_s": batch_size / step, "rows": statistics.median(updated[1:]), "load_peak": load_peak,
            "stage_peak": stage_peak(fresh)}


def updated_rows(model) -> int:
    """Embedding rows (user and item vectors) the last step updated: the distinct rows of their
    sparse gradients. Lazy Adam's work per step grows with them, not with the batch."""
    import torch

    return sum(len(torch.unique(p.grad._indices()[0])) for p in model.parameters()
               if p.grad is not None and p.grad.is_sparse and p.dim() == 2 and p.shape[1] > 1)


def evaluate_sample(model, heldout, keep, exclude, config) -> dict:
    """Full ranking of the sampled test users (their test pairs picked out in the timing too)."""
    import torch

    from recbce.data.dataset import Split
    from recbce.evaluation.ranking import evaluate

    with torch.no_grad():
        return evaluate(model, Split(heldout.users[keep], heldout.items[keep]), exclude, [20],
                        config.eval.batch_users, max_memory_mb=config.eval.max_memory_mb)


def run_eval(path: Path, whole_rows: bool = False) -> dict:
    import torch

    from recbce.evaluation import blocks, selection
    from recbce.evaluation.ranking import heldout_and_exclusions
    from recbce.training.state import build

    if whole_rows:  # the selection before 2026-12-08 (this stage's process only): whole rows, topk,
        blocks.shortlist, blocks.RANKED_TOGETHER = selection.whole_row_shortlist, 1  # a block at a time
        blocks.TILED_FROM_ITEMS = float("inf")

    config, dataset, load_s = loaded(path)
    load_peak, fresh = gib(peak_mib()), reset_high_water()
    model = build(dataset, config, torch.Generator().manual_seed(0), torch.device("cpu"))[0].eval()
    heldout, exclude = heldout_and_exclusions(dataset, "test")
    users = torch.unique(heldout.users)
    sample = users[torch.randperm(len(users), generator=torch.Generator().manual_seed(0))[:EVAL_USERS]]
    keep = torch.isin(heldout.users, sample)
    seconds, metrics = timed(evaluate_sample, model, heldout, keep, exclude, config)
    return {"load_seconds": load_s, "seconds": seconds, "sampled": len(sample), "test_users": len(users),
            "all_users": seconds * len(users) / len(sample), "recall": metrics["recall@20"],
            "load_peak": load_peak, "stage_peak": stage_peak(fresh)}


STAGES = {"load": run_load, "per-pair": lambda p: run_train(p, "per-pair"),
          "shared": lambda p: run_train(p, "shared"), "eval": run_eval,
          "eval whole rows": lambda p: run_eval(p, whole_rows=True)}


def threads() -> int:
    """Torch threads of every stage: 1 unless BENCH_THREADS says otherwise. On this shared 2-core
    machine a second intra-op thread spin-waits on a busy core: steps took 30x longer."""
    return bench_threads(1)


def child(stage: str, path: Path, queue) -> None:
    import torch

    torch.set_num_threads(threads())
    cpu = cpu_seconds()
    result = STAGES[stage](path)
    result["cpu"] = cpu_seconds() - cpu
    result["peak"] = max(gib(peak_mib()), result.get("load_peak", 0.0))
    queue.put(result)


def measure(stage: str, path: Path) -> dict:
    """One stage in a fresh process: its figures and its own peak resident memory; the load
    averages (1/5/15 min, as `uptime` shows them) when it ended."""
    result = in_child(child, stage, path)
    result["uptime"] = " / ".join(f"{x:.1f}" for x in load_averages())
    return result


def size_rows(millions: float, folder: Path) -> tuple[list[str], dict]:
    """Generate the log of one size, measure every stage on it, delete it; table lines."""
    rows, n_users, n_items = shape(millions)
    made, path = timed(write_log, folder / f"{millions:g}m.tsv", rows, n_users, n_items)
    print(f"{millions:g} M: generated {rows:,} rows in {made:.1f} s ({path.stat().st_size / 2**30:.2f} GiB)",
          flush=True)
    figures = {}
    for stage in STAGES:
        figures[stage] = measure(stage, path)
        print(f"  {stage}: {figures[stage]}", flush=True)
    path.unlink()
    return table_lines(millions, made, figures), figures


def main() -> None:
    sizes = [float(s) for s in os.environ.get("SCALE_SIZES", " ".join(map(str, SIZES))).split()]
    lines, measured = [], {}
    with tempfile.TemporaryDirectory(prefix="recbce-bench-scale-") as folder:
        for millions in sizes:
            rows, figures = size_rows(millions, Path(folder))
            lines += rows
            measured[millions] = figures
            write_results(lines, measured, sizes)


def write_results(lines: list[str], measured: dict, sizes: list[float]) -> None:
    text = report(lines, measured, sizes, command=COMMAND, threads=threads(), steps=STEPS,
                  eval_users=EVAL_USERS)
    runs.write_text(HERE / "results" / "scale.md", text)
    print(text, flush=True)


if __name__ == "__main__":
    main()
