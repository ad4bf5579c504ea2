"""recbce against implicit, Cornac and lightfm-next on Gowalla, one evaluator for all.

Every system runs in its own subprocess (bench/peers/worker.py), so each peak RSS is its own
(bench.measure.run_process starts it through a small launcher: see there). Each peer is given
its best (bench/peers/protocol.py): every (learning rate, regularisation) of its grid in
bench/peers/systems.py GRIDS is screened on validation with --screen-cap training seconds, and
the setting with the best validation Recall@20 then trains until its validation curve is flat
(or --cap seconds); test is scored once, on the validation-best checkpoint. recbce runs each
config twice: once as written (validation-selected quality) and once with valid_ratio 0 and a
test evaluation after every epoch (time to Recall@20 >= 0.15). Each system's result is stored
as it is measured (bench/peers/store.py, bench/results/peers/), and bench/results/peers.md is
rendered from every stored system, so the systems can be measured in separate sittings. A
peer's screening runs are stored too (bench/results/peers/screens/), each as it ends, and
reused by a later run with the same peer, setting and screening cap, and so are its final runs
(bench/results/peers/finals/, keyed also by the least length its screen set): --rescreen runs
them all again. A peer's grid can be screened, and its contenders run to their plateaus, over
several sittings.

    python -m bench.bench_peers [--peers implicit-bpr ...] [--recbce best=configs/gowalla-best.yaml ...]
                                [--cap 300 --screen-cap 30]
    python -m bench.bench_peers --peers cornac-bpr --recbce    # one peer alone, no recbce run
    python -m bench.bench_peers --peers --recbce               # re-render peers.md only
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bench.measure import load_average, run_process, timed
from bench.peers.protocol import MIN_SECONDS, settings_grid, tune
from bench.peers.report import COMMAND, render
from bench.peers.store import load_all, save, stamp
from bench.peers.systems import GRIDS, PEERS
from bench.peers.venv import worker_python
from recbce import runs

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "peers.md"
STORE = ROOT / "bench" / "results" / "peers"
SCREENS = STORE / "screens"
FINALS = STORE / "finals"
CAP, SCREEN_CAP = 1800.0, 240.0  # training seconds: a peer's final run, each screening run
RECBCE_CONFIGS = ("bce=configs/gowalla-bce.yaml", "best=configs/gowalla-best.yaml")
TARGET = 0.15


def run_worker(args: list[str]) -> tuple[dict, float, float]:
    """(result, peak RSS in MiB, wall seconds) of one worker process."""
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        out = Path(tmp) / "result.json"
        command = [worker_python(args), "-m", "bench.peers.worker", *args, "--out", str(out)]
        code, wall, rss = run_process(command, cwd=ROOT)  # the worker runs from the root, as a module
        if code != 0:
            raise SystemExit(f"bench peers: {shlex.join(args)} failed (exit {code})")
        return json.loads(out.read_text()), rss, wall


def recbce_configs(pairs: list[str]) -> dict[str, str]:
    malformed = [pair for pair in pairs if "=" not in pair]
    if malformed:
        raise SystemExit(f"bench peers: --recbce {malformed[0]}: expected NAME=CONFIG")
    configs = dict(pair.split("=", 1) for pair in pairs)
    for name, path in configs.items():
        if not (ROOT / path).is_file():
            raise SystemExit(f"bench peers: recbce config {path} ({name}) not found; the tuned Gowalla "
                             f"configs come with issue 5. Benchmark another with --recbce {name}=PATH")
    return configs


def measured(system: dict, load_before: float, wall: float) -> None:
    """Store `system` with how it was measured (`wall`: the seconds of all its runs), then
    re-render peers.md from every stored system (a run cut short keeps what it finished)."""
    command = COMMAND + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    save(stamp(system, command, (load_before, load_average()), wall), STORE)
    write_report()


def write_report() -> str:
    systems = load_all(STORE, list(PEERS))
    names = {s["name"] for s in systems}
    expected = [*PEERS, *(f"recbce {pair.split('=', 1)[0]}" for pair in RECBCE_CONFIGS)]
    unmeasured = [name for name in expected if name not in names]
    text = render(systems, target=TARGET, unmeasured=unmeasured)
    runs.write_text(RESULT, text)
    return text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recbce", nargs="*", metavar="NAME=CONFIG", default=list(RECBCE_CONFIGS),
                        help=f"recbce configs to run, none for a bare --recbce "
                             f"(default: {' '.join(RECBCE_CONFIGS)})")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--rescreen", action="store_true",
                        help="run every screen and final run again, not reusing stored ones "
                             "(after a change to a peer's adapter)")
    parser.add_argument("--cap", type=float, default=CAP,
                        help=f"most training seconds of a peer's final run (default {CAP:g})")
    parser.add_argument("--screen-cap", type=float, default=SCREEN_CAP,
                        help=f"most training seconds of each screening run (default {SCREEN_CAP:g})")
    args = parser.parse_args()
    if args.cap <= 0 or args.screen_cap <= 0:
        parser.error("--cap and --screen-cap must be positive")
    return args


def stored_path(peer: str, setting: dict, cap: float, screen: bool, min_seconds: float) -> Path:
    """Where a run is stored: a screen by its peer, setting and cap; a final run by its least
    length too (read from the screen, so screening again makes a new key)."""
    label = ",".join(f"{k}={v:g}" for k, v in setting.items()) or "as-built"
    if screen:
        return SCREENS / f"{peer}--{label}--cap{cap:g}.json"
    return FINALS / f"{peer}--{label}--cap{cap:g}--min{min_seconds:g}.json"


def run_peer(peer: str, setting: dict, cap: float, screen: bool, rescreen: bool = False,
             min_seconds: float = MIN_SECONDS) -> tuple[dict, float, float]:
    """One run of `peer` at `setting`; screening runs score validation only. Every run is stored
    as it ends and reused (unless `rescreen`) by a later run with the same key (`stored_path`)."""
    label = ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "as built"
    kind = "screened" if screen else "final run"
    stored = stored_path(peer, setting, cap, screen, min_seconds)
    if not rescreen and stored.is_file():
        kept = json.loads(stored.read_text())
        print(f"bench peers: {peer} ({label}), {kind} {kept['result']['measured']} UTC: reused", flush=True)
        return kept["result"], kept["rss_mib"], kept["wall"]
    print(f"bench peers: {peer} ({label}), {'screening, ' if screen else ''}cap {cap:.0f} s", flush=True)
    args = ["peer", peer, *(f"--set={k}={v!r}" for k, v in setting.items()), "--cap", str(cap),
            "--min-seconds", str(min_seconds)]
    result, rss, wall = run_worker(args + (["--screen"] if screen else []))
    result["measured"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    stored.parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(stored, {"result": result, "rss_mib": rss, "wall": wall})
    return result, rss, wall


def main() -> None:
    args = parse_args()
    configs = recbce_configs(args.recbce)
    for peer in args.peers:
        load_before = load_average()
        wall, tuned = timed(tune, settings_grid(GRIDS.get(peer, {})),
                            lambda setting, cap, screen, min_seconds=MIN_SECONDS, peer=peer: run_peer(
                                peer, setting, cap, screen, args.rescreen, min_seconds),
                            args.screen_cap, args.cap)
        measured({"name": peer, "kind": "peer", **tuned}, load_before, wall)
    for name, path in configs.items():
        for mode in ("recbce-time", "recbce-quality"):
            print(f"bench peers: recbce {name} ({path}), {mode.removeprefix('recbce-')} run", flush=True)
            load_before = load_average()
            spent, (result, rss, wall) = timed(run_worker, [mode, path])
            measured({"name": f"recbce {name}", "config": path, "kind": mode,
                      "result": result, "rss_mib": rss, "wall": wall}, load_before, spent)
    print(write_report())


if __name__ == "__main__":
    main()
