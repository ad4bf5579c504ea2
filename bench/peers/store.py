"""The peers benchmark's results, one JSON file per system, kept between runs.

Giving every peer its best takes hours (a grid screened, then a run to its plateau), more than
one sitting; so each system's result is stored as soon as it is measured, with when, by which
command and on what load, and bench/results/peers.md is rendered from every stored system.
Re-running a system replaces its file; `python -m bench.bench_peers --peers cornac-bpr --recbce`
re-measures one peer alone and leaves the others' figures (and their dates) as they were.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from recbce import runs

KINDS = ("peer", "recbce-time", "recbce-quality")


def stem(system: dict) -> str:
    """The file a system is stored in: the peer's name, or 'recbce-<name>-<time|quality>'."""
    if system["kind"] == "peer":
        return system["name"]
    return f"{system['name'].replace(' ', '-')}-{system['kind'].removeprefix('recbce-')}"


def stamp(system: dict, command: str, load: tuple[float, float], wall: float) -> dict:
    """`system` with when and how it was measured (UTC time, command, load average before and
    after, the wall seconds of its own runs: for a peer, the screening runs and the final run)."""
    measured = {"utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "command": command,
                "load": [round(load[0], 2), round(load[1], 2)], "wall": round(wall, 1)}
    return {**system, "measured": measured}


def save(system: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem(system)}.json"
    runs.write_json(path, system)
    return path


def load_all(folder: Path, peer_order: list[str]) -> list[dict]:
    """Every stored system: peers in `peer_order` (unknown ones last, by name), then recbce's
    runs by name, time run before quality run (the refit rows pair them)."""
    systems = []
    for path in sorted(folder.glob("*.json")):
        system = json.loads(path.read_text())
        if system.get("kind") not in KINDS or "measured" not in system:
            raise ValueError(f"{path}: not a stored peers-benchmark system (kind, measured)")
        systems.append(system)

    def order(system: dict) -> tuple:
        if system["kind"] == "peer":
            known = system["name"] in peer_order
            return (0, peer_order.index(system["name"]) if known else len(peer_order), system["name"])
        return (1, system["name"], KINDS.index(system["kind"]))

    return sorted(systems, key=order)
