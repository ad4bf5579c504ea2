"""Which interpreter runs a peers-benchmark worker: RecBole's peers need its own virtualenv.

RecBole 1.2.1 needs numpy < 2 (and pandas < 3, scipy < 1.13), so `make bench-recbole` builds
.venv-recbole with recbce in it; every other worker runs in the benchmark's own interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: bench/peers/venv.py
VENV = ROOT / ".venv-recbole"  # the Makefile's RECBOLE_VENV
PYTHON = VENV / "bin" / "python"
PEERS = ("recbole-bpr", "recbole-lightgcn")
MISSING = f"RecBole's virtualenv {PYTHON} is missing: make it with `make bench-recbole`"


def worker_python(args: list[str]) -> str:
    """The interpreter for `python -m bench.peers.worker ARGS`: RecBole's for its peers."""
    if len(args) < 2 or args[0] != "peer" or args[1] not in PEERS:
        return sys.executable
    if not PYTHON.is_file():
        raise SystemExit(f"bench peers: {args[1]} needs {MISSING}")
    return str(PYTHON)
