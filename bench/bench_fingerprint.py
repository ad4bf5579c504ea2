"""What recording a run's data fingerprint costs: hashing Gowalla's files against loading them.

A training fingerprints every data file it reads (size, mtime, blake2b of the content:
recbce/data/fingerprint.py) before loading; `--resume` and `evaluate` do it again to
compare. This times `fingerprint.take` against `load_dataset` on the same config, both
with the files in the page cache (a first read from disk costs both alike), in the same
process, best of several runs and as CPU seconds (the robust figure on a shared machine).
Writes bench/results/fingerprint.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.measure import cpu_seconds, load_average, timed
from recbce import runs
from recbce.config import load_config
from recbce.data import fingerprint
from recbce.data.dataset import load_dataset

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIG = ROOT / "configs" / "gowalla.yaml"
COMMAND = "make bench ONLY=fingerprint  (or: python -m bench.bench_fingerprint)"


def best(action, repeats: int) -> tuple[float, float]:
    """(best wall seconds, best CPU seconds) over `repeats` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu = cpu_seconds()
        walls.append(timed(action)[0])
        cpus.append(cpu_seconds() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    os.chdir(ROOT)  # the config names the data relative to the repository
    config = load_config(CONFIG)
    files = fingerprint.data_files(config.data)
    if not all(Path(f).is_file() for f in files):
        print(f"skipped: Gowalla not found ({', '.join(files)})")
        return
    size = sum(Path(f).stat().st_size for f in files)
    fingerprint.take(config.data)  # into the page cache
    hash_wall, hash_cpu = best(lambda: fingerprint.take(config.data), 10)
    load_wall, load_cpu = best(lambda: load_dataset(config.data, config.seed), 3)
    load = load_average()
    text = f"""## Data fingerprints (`bench/bench_fingerprint.py`)

Command: `{COMMAND}`. What a run pays to record its data (size, mtime and a blake2b hash
of every file it reads, recbce/data/fingerprint.py) and `--resume`/`evaluate` pay to check
it, against loading the same data with `load_dataset`: configs/gowalla.yaml's files
({', '.join(files)}; {size / 2**20:.1f} MiB), both from the page cache, in one process;
best of 10 (hash) and 3 (load) runs. Load average {load:.1f} on {os.cpu_count()} cores at the end.

| step | wall s | CPU s |
|---|---:|---:|
| fingerprint (hash both files) | {hash_wall:.4f} | {hash_cpu:.4f} |
| load_dataset (read, split, index) | {load_wall:.3f} | {load_cpu:.3f} |

The fingerprint costs {100 * hash_cpu / load_cpu:.1f}% of the load in CPU time
({size / 2**20 / hash_wall:,.0f} MiB/s of hashing).
"""
    runs.write_text(HERE / "results" / "fingerprint.md", text)
    print(text)


if __name__ == "__main__":
    main()
