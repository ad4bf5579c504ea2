"""Loading and splitting interaction data: Gowalla, and generated files of 5, 10 and 20 M rows.

recbce's `load_dataset` (read, implicit conversion, duplicate removal, per-user random
split, id mapping, CSR of positives) against the bare parse of the same file done in
the same run (pandas' C reader for the TSVs, a NumPy token parse for Gowalla's
adjacency lists): the ratio says what recbce adds on top of reading. Each measurement
runs in its own child process, so its peak resident memory is its own. Seconds per
million rows at each size show whether loading scales linearly.
Writes bench/results/load.md.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.measure import cpu_seconds, in_child, peak_mib, timed
from recbce import runs
from recbce.config import DataConfig
from recbce.data.dataset import load_dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GOWALLA = ROOT.parent / "shared" / "data" / "gowalla"
SIZES = (5, 10, 20)  # million rows
CHUNK = 5_000_000  # rows per generated block: users 0..40k in block 0, 40k..80k in block 1, ...
COMMAND = "make bench ONLY=load  (or: python -m bench.bench_load)"


def write_blocks(folder: Path, blocks: int) -> list[Path]:
    """Blocks of CHUNK rows `user item rating timestamp`, vectorised (pyarrow's CSV writer);
    block b holds its own users, so the first n blocks form a valid n * 5 M-row log."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    paths = []
    for block in range(blocks):
        rng = np.random.default_rng(block)
        table = pa.table({
            "user": rng.integers(0, 40_000, CHUNK) + 40_000 * block,  # ~125 rows per user
            "item": (100_000 * rng.random(CHUNK) ** 3).astype(np.int64),  # long tail: p(x) ~ x^(-2/3)
            "rating": rng.integers(1, 6, CHUNK),
            "timestamp": rng.integers(800_000_000, 1_000_000_000, CHUNK),
        })
        paths.append(folder / f"block{block}.tsv")
        options = pacsv.WriteOptions(include_header=False, delimiter="\t")
        pacsv.write_csv(table, paths[-1], write_options=options)
    return paths


def concatenate(blocks: list[Path], target: Path) -> Path:
    with open(target, "wb") as out:
        for block in blocks:
            with open(block, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 24)
    return target


def config_for(path: Path | None) -> DataConfig:
    if path is None:  # Gowalla: the published train/test files, 10% of train kept for validation
        return DataConfig(path=str(GOWALLA / "train.txt"), format="adjacency",
                          split={"method": "predefined", "test_path": str(GOWALLA / "test.txt"),
                                 "valid_ratio": 0.1})
    return DataConfig(path=str(path), format="tsv", split={"test_ratio": 0.2, "valid_ratio": 0.1})


def bare_parse(path: Path | None) -> int:
    """The baseline: only turning the text into numbers; returns the rows."""
    if path is None:
        tokens = [np.array(f.read_text().split(), dtype=np.int64) for f in
                  (GOWALLA / "train.txt", GOWALLA / "test.txt")]
        return sum(len(t) for t in tokens)
    import pandas as pd

    return len(pd.read_csv(path, sep="\t", header=None, engine="c"))


def recbce_load(path: Path | None) -> int:
    data = load_dataset(config_for(path), seed=0)
    return len(data.train) + len(data.test) + (len(data.valid) if data.valid is not None else 0)


def child(task: str, path, queue) -> None:
    cpu = cpu_seconds()
    seconds, rows = timed(bare_parse if task == "parse" else recbce_load, path)
    # GiB: the table's unit since it was first written
    queue.put((seconds, cpu_seconds() - cpu, rows, peak_mib() / 1024))


def measure(task: str, path: Path | None) -> tuple[float, float, int, float]:
    """(wall seconds, CPU seconds, rows, peak GiB) of one task in a fresh process."""
    return in_child(child, task, path)


def row(name: str, path: Path | None, rows_label: str) -> str:
    base_s, base_cpu, _, base_gib = measure("parse", path)
    seconds, cpu, rows, gib = measure("recbce", path)
    per_million = cpu / (rows / 1e6)
    print(f"{name} {rows_label}: {seconds:.1f} s wall, {cpu:.1f} s CPU ({per_million:.2f} per M rows), "
          f"peak {gib:.2f} GiB; bare parse {base_s:.1f} s wall, {base_cpu:.1f} s CPU", flush=True)
    return (f"| {name} | {rows_label} | {rows:,} | {seconds:.1f} | {cpu:.1f} | {per_million:.2f} | "
            f"{gib:.2f} | {base_cpu:.1f} | {base_gib:.2f} | {cpu / base_cpu:.1f}x |")


def main() -> None:
    lines = []
    if GOWALLA.is_dir():
        lines.append(row("Gowalla (adjacency, predefined split)", None, "1.03 M"))
    with tempfile.TemporaryDirectory(prefix="recbce-bench-load-") as folder:
        made, blocks = timed(write_blocks, Path(folder), max(SIZES) * 1_000_000 // CHUNK)
        print(f"generated {len(blocks)} blocks of {CHUNK:,} rows in {made:.1f} s")
        for millions in SIZES:
            path = concatenate(blocks[:millions * 1_000_000 // CHUNK], Path(folder) / f"{millions}m.tsv")
            lines.append(row("generated TSV, random split", path, f"{millions} M"))
            path.unlink()
    write_results(lines)


def write_results(lines: list[str]) -> None:
    text = "\n".join([
        "## Loading and splitting data (`bench/bench_load.py`)",
        "",
        f"Command: `{COMMAND}`. recbce's `load_dataset` (read, implicit conversion and duplicate",
        "removal, per-user split, id mapping, positives CSR) against only parsing the same file",
        "(pandas C reader; NumPy token parse for Gowalla), each in its own process, in this run.",
        "Generated files: `user item rating timestamp`, 40k users per 5 M rows, long-tail items",
        "(the few repeated pairs are dropped); split 70/10/20 per user. Peak = the process's",
        "maximum resident memory. CPU seconds (user + system) are the robust figure on a shared",
        "machine; wall seconds include waiting for the CPU. Linear scaling = constant CPU s per M.",
        "",
        "| data | size | rows kept | recbce wall s | recbce CPU s | CPU s per M rows | peak GiB | "
        "bare parse CPU s | parse peak GiB | recbce / parse (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
    ])
    runs.write_text(HERE / "results" / "load.md", text)
    print(text)


if __name__ == "__main__":
    main()
