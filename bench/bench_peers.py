"""recbce against implicit, Cornac and lightfm-next on Gowalla, one evaluator for all.

Every system runs in its own subprocess (bench/peers_worker.py), so each peak RSS is
its own (os.wait4 reports the child's). Peers train under a time budget and are
evaluated on test at fixed fractions of it; recbce runs each config twice: once as
written (validation-selected quality) and once with valid_ratio 0 and a test
evaluation after every epoch (time to Recall@20 >= 0.15). Writes bench/results/peers.md.

    python bench/bench_peers.py [--recbce bce=configs/gowalla-bce.yaml ...] [--budget-scale 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peers_report import render

from recbce import runs

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "peers.md"
BUDGETS = {"lightfm-warp": 90.0, "implicit-bpr": 120.0, "cornac-bpr": 240.0}  # training seconds
RECBCE_CONFIGS = ("bce=configs/gowalla-bce.yaml", "best=configs/gowalla-best.yaml")
TARGET = 0.15


def run_worker(args: list[str]) -> tuple[dict, float, float]:
    """(result, peak RSS in MiB, wall seconds) of one worker process."""
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        out = Path(tmp) / "result.json"
        command = [sys.executable, "-m", "bench.peers_worker", *args, "--out", str(out)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(f"bench peers: {shlex.join(args)} failed (exit {process.returncode})")
        return json.loads(out.read_text()), usage.ru_maxrss / 1024, wall


def recbce_configs(pairs: list[str]) -> dict[str, str]:
    configs = dict(pair.split("=", 1) for pair in pairs)
    for name, path in configs.items():
        if not (ROOT / path).is_file():
            raise SystemExit(f"bench peers: recbce config {path} ({name}) not found; the tuned Gowalla "
                             f"configs come with issue 5. Benchmark another with --recbce {name}=PATH")
    return configs


def write_report(systems: list[dict], started: float, load_before) -> str:
    """Rewrite peers.md with the systems done so far, so a cut-short run still leaves figures."""
    command = "python bench/bench_peers.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    text = render(systems, command=command, target=TARGET, total_wall=time.perf_counter() - started,
                  load=(load_before, os.getloadavg()))
    runs.write_text(RESULT, text)
    return text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recbce", action="append", metavar="NAME=CONFIG",
                        help=f"recbce configs to run (default: {' '.join(RECBCE_CONFIGS)})")
    parser.add_argument("--peers", nargs="*", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--budget-scale", type=float, default=1.0,
                        help="multiply every peer's training budget (a quick look: 0.25)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    configs = recbce_configs(args.recbce or list(RECBCE_CONFIGS))
    load_before, started = os.getloadavg(), time.perf_counter()
    systems = []
    for peer in args.peers:
        budget = BUDGETS[peer] * args.budget_scale
        print(f"bench peers: {peer}, {budget:.0f} s training budget", flush=True)
        result, rss, wall = run_worker(["peer", peer, "--budget", str(budget)])
        systems.append({"name": peer, "kind": "peer", "result": result, "rss_mib": rss, "wall": wall})
        write_report(systems, started, load_before)
    for name, path in configs.items():
        for mode in ("recbce-time", "recbce-quality"):
            print(f"bench peers: recbce {name} ({path}), {mode.removeprefix('recbce-')} run", flush=True)
            result, rss, wall = run_worker([mode, path])
            systems.append({"name": f"recbce {name}", "config": path, "kind": mode,
                            "result": result, "rss_mib": rss, "wall": wall})
            write_report(systems, started, load_before)
    print(write_report(systems, started, load_before))


if __name__ == "__main__":
    main()
