"""`make bench`: run every bench/bench_*.py (or those named in ONLY), then write BENCHMARKS.md.

Each benchmark script writes its own section to bench/results/<name>.md, with
the command that reproduces it; this script adds a header describing the
machine and joins the sections, so BENCHMARKS.md only ever holds measured figures.
Each script runs as a module from the repository root (`python -m bench.bench_<name>`), as its
section says to reproduce it: it imports `bench.…` and `recbce` as any package, no path set by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

from bench.measure import machine
from recbce import runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def main() -> None:
    only = set(os.environ.get("ONLY", "").split()) - {""}
    scripts = sorted(HERE.glob("bench_*.py"))
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        print(f"== bench {name}", flush=True)
        subprocess.run([sys.executable, "-m", f"bench.{script.stem}"], cwd=ROOT, check=True)
    sections = [p.read_text().strip() for p in sorted(RESULTS.glob("*.md"))]
    header = (
        "# Benchmarks\n\n"
        "Made by `make bench` (one part: `make bench ONLY=<name>`); every figure below was\n"
        "measured by the script named in its section. Timings on a shared 2-core machine are\n"
        "noisy: compare ratios measured in the same run, not absolute seconds across runs.\n\n"
        f"Assembled {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from bench/results/, where each section\n"
        "was written by the last run of its script (`git log bench/results/<name>.md` says when).\n"
        f"Machine of the last run: {machine()}; {torch.get_num_threads()} torch threads.\n"
    )
    text = header + "".join(f"\n{s}\n" for s in sections)
    runs.write_text(Path("BENCHMARKS.md"), text)
    print(f"wrote BENCHMARKS.md ({len(sections)} sections)")


if __name__ == "__main__":
    main()
