"""Turn the peers benchmark's worker results into rows and the markdown section.

Only measured figures appear; a target not reached says so instead of a number.
"""

from __future__ import annotations

from itertools import accumulate

from bench.measure import machine
from bench.peers.protocol import (
    CONTENDER,
    FALL,
    FLAT_SHARE,
    GROWTH,
    MIN_EPOCHS,
    MIN_SECONDS,
    TOLERANCE,
    seconds_to,
)

COMMAND = "python -m bench.bench_peers"  # from the repository root; `make bench ONLY=peers` runs it
# What systems measured before bench/ ran its scripts as modules stored as their command (their
# JSON keeps it as typed then): the same run is now started as COMMAND, with the same arguments.
OLD_COMMAND = "python bench/bench_peers.py"
NEAR_BEST = 0.98  # a curve that creeps up until it stops "reaches" its best only then
# What each time column measures, as the ratio lines name it.
TO = {"to_best": "its own best", "to_near_best": f"{NEAR_BEST:.0%} of its own best"}

HEADER = ("| system | settings | valid R@20 | Recall@20 | NDCG@20 | selected on | train s to own best "
          f"| train s to {NEAR_BEST:.0%} of own best | train s to R@20 ≥ {{target}} "
          "| scored pairs/s | positives/s | peak RSS MiB | epochs | stopped by |")


def peer_row(system: dict, target: float) -> dict:
    """The final run of a peer's chosen setting: test at its validation-best checkpoint; times
    read on its validation curve (test is not scored along the run, so no time to the target)."""
    result = system["result"]
    history, best = result["history"], result["best"]
    positives_per_s = result["positives"] * result["epochs"] / result["train_seconds"]
    pairs = result["pairs_per_positive"]
    return {
        "system": system["name"], "settings": result["settings"], "valid": best["recall@20"],
        "recall": result["test"]["recall@20"], "ndcg": result["test"]["ndcg@20"],
        "selected": "validation (setting and checkpoint)",
        "to_best": best["train_seconds"], "to_near_best": seconds_to(history, NEAR_BEST),
        "to_target": None, "target_tracked": False,
        "pairs_per_s": positives_per_s * pairs if pairs else None, "positives_per_s": positives_per_s,
        "rss": system["rss_mib"], "epochs": result["epochs"],
        "stopped": f"{result['stopped']} (cap {result['cap']:.0f} s)",
    }


def recbce_row(system: dict, target: float) -> dict:
    """Quality run: the validation-selected epoch. Time run: every epoch on test."""
    result, quality = system["result"], system["kind"] == "recbce-quality"
    epochs = result["epochs"]
    elapsed = list(accumulate(e["seconds"] for e in epochs))
    if quality:
        best_index = (result["best_epoch"] or epochs[-1]["epoch"]) - epochs[0]["epoch"]
        recall, ndcg = result["test"]["recall@20"], result["test"]["ndcg@20"]
        valid = epochs[best_index].get("valid_recall@20")
        reached = near = None
    else:
        best_index = max(range(len(epochs)), key=lambda i: epochs[i]["recall@20"])
        recall, ndcg = epochs[best_index]["recall@20"], epochs[best_index]["ndcg@20"]
        valid = None
        reached = next((i for i, e in enumerate(epochs) if e["recall@20"] >= target), None)
        near = next(i for i, e in enumerate(epochs) if e["recall@20"] >= NEAR_BEST * recall)
    examples = sum(e["seconds"] * e["examples_per_s"] for e in epochs)
    return {
        "system": f"{system['name']} ({'quality' if quality else 'time'} run)",
        "settings": f"{system['config']}: {result['settings']}",
        "valid": valid, "recall": recall, "ndcg": ndcg,
        "selected": "validation" if quality else "test (every epoch)",
        "to_best": elapsed[best_index], "to_near_best": None if near is None else elapsed[near],
        "to_target": None if reached is None else elapsed[reached],
        "pairs_per_s": examples / elapsed[-1], "positives_per_s": None, "rss": system["rss_mib"],
        "epochs": len(epochs), "stopped": "config epochs" + ("" if quality else "; no early stop on test"),
        "time_run": not quality,
    }


def refit_rows(systems: list[dict]) -> list[dict]:
    """Refit protocol: the quality run picks the epoch count on validation; the time run, trained
    on all of training, is read at that epoch (selected on validation, reported on test)."""
    rows = []
    for quality in (s for s in systems if s["kind"] == "recbce-quality"):
        timed = next((s for s in systems
                      if s["kind"] == "recbce-time" and s["name"] == quality["name"]), None)
        chosen = quality["result"]["best_epoch"] or quality["result"]["epochs"][-1]["epoch"]
        if timed is None or len(timed["result"]["epochs"]) < chosen:
            continue
        epochs = timed["result"]["epochs"][:chosen]
        row = recbce_row({**timed, "result": {**timed["result"], "epochs": epochs}}, target=1.0)
        rows.append({**row, "system": f"{quality['name']} (refit)",
                     "recall": epochs[-1]["recall@20"], "ndcg": epochs[-1]["ndcg@20"],
                     "valid": None, "to_best": sum(e["seconds"] for e in epochs), "to_near_best": None,
                     "selected": "validation (epoch count); refit on all of train",
                     "stopped": f"epoch {chosen} of the time run, chosen by the quality run",
                     "time_run": False})
    return rows


def ratio_lines(rows: list[dict], target: float, key: str = "to_best") -> list[str]:
    """recbce's time to the target over the fastest peer's time to its own best (goal <= 1/3);
    with key="to_near_best", to NEAR_BEST of its best (robust to a curve that creeps up to the budget)."""
    peers = [r for r in rows if "time_run" not in r]
    if not peers:
        return ["No peer ran, so there is no ratio."]
    fastest = min(peers, key=lambda r: r[key])
    lines = [f"Fastest peer to {TO[key]}: {fastest['system']}, {fastest[key]:.1f} s of training."]
    for row in (r for r in rows if r.get("time_run")):
        if row["to_target"] is None:
            lines.append(f"- {row['system']}: Recall@20 {target} not reached, so no ratio.")
            continue
        ratio = row["to_target"] / fastest[key]
        verdict = "meets" if ratio <= 1 / 3 else "misses"
        lines.append(f"- {row['system']}: {row['to_target']:.1f} s to Recall@20 ≥ {target}; "
                     f"ratio {ratio:.2f} ({verdict} the ≤ 0.33 target).")
    return lines


def table(rows: list[dict], target: float) -> list[str]:
    lines = [HEADER.format(target=target), "|" + "---|" * 14]
    for r in rows:
        to_target = "not reached" if r["to_target"] is None else f"{r['to_target']:.1f}"
        if r.get("target_tracked") is False:
            to_target = "— (test not tracked)"
        elif r["selected"].startswith("validation"):
            to_target = "(time run)"
        cells = [r["system"], r["settings"], "—" if r["valid"] is None else f"{r['valid']:.4f}",
                 f"{r['recall']:.4f}", f"{r['ndcg']:.4f}", r["selected"],
                 f"{r['to_best']:.1f}", "—" if r["to_near_best"] is None else f"{r['to_near_best']:.1f}",
                 to_target, _rate(r["pairs_per_s"]), _rate(r["positives_per_s"]),
                 f"{r['rss']:.0f}", str(r["epochs"]), r["stopped"]]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e6:.2f} M"


def histories(systems: list[dict]) -> list[str]:
    lines = ["Recall@20 at each evaluation (training seconds: recall), validation for the peers' "
             "final runs, test for recbce's time runs:", ""]
    for s in systems:
        if s["kind"] == "peer":
            points = [(h["train_seconds"], h["recall@20"]) for h in s["result"]["history"]]
        elif s["kind"] == "recbce-time":
            epochs = s["result"]["epochs"]
            elapsed = accumulate(e["seconds"] for e in epochs)
            points = list(zip(elapsed, (e["recall@20"] for e in epochs), strict=True))
        else:
            continue
        lines.append(f"- {s['name']}: " + ", ".join(f"{t:.1f}: {r:.4f}" for t, r in points))
    return lines


def grids(systems: list[dict]) -> list[str]:
    """Each peer's screened settings: best validation Recall@20, when, and what stopped it."""
    lines = []
    for s in (s for s in systems if s["kind"] == "peer" and s.get("grid")):
        chosen = s["result"]["setting"]
        cells = [f"{_setting(g['setting'])}: {g['valid']:.4f} at {g['to_best']:.1f} s ({g['stopped']})"
                 + (" **chosen**" if g["setting"] == chosen else "") for g in s["grid"]]
        when = sorted(g["measured"] for g in s["grid"] if g.get("measured"))
        span = f", screened {when[0]} to {when[-1]} UTC" if when else ""
        lines.append(f"- {s['name']} (screening cap {s['screen_cap']:.0f} s{span}): " + "; ".join(cells))
        others = [f"{_setting(o['setting'])}: {o['valid']:.4f} at {o['to_best']:.1f} s ({o['stopped']})"
                  for o in s.get("other_finals", [])]
        if others:
            lines.append(f"  - also run to its plateau as a contender, not chosen: {'; '.join(others)}")
    if not lines:
        return []
    return ["Validation Recall@20 of each screened setting (best, training seconds to it, stop):",
            "", *lines, ""]


def _setting(setting: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in setting.items()) or "as built"


def protocol(systems: list[dict]) -> str:
    caps = ", ".join(f"{s['name']} {s['result']['cap']:.0f} s" for s in systems if s["kind"] == "peer")
    return (
        "Peers train on training minus the validation split recbce's tuned configs carve from it "
        "(5% of each user's items, the same loader and seed: the same validation users and items "
        "as recbce's quality runs). Each peer's (learning rate, regularisation) grid "
        "(bench/peers/systems.py GRIDS) is screened with a short training cap, and the setting "
        "with the best validation Recall@20 is run again from scratch to its plateau, and so is "
        f"every setting still rising when the screening cap stopped it within {CONTENDER:.0%} of "
        "that figure (a short screening cap favours settings that rise fast), each for at least "
        "as long as its screen took to its best; the final run with "
        "the best validation Recall@20 is the peer's (each screened figure and what stopped it "
        "are listed below the table). A run "
        "scores validation at checkpoints spaced geometrically in training seconds (each "
        f"{GROWTH:g}x the last) and stops at the first checkpoint where, after at least "
        f"{MIN_EPOCHS} epochs and {MIN_SECONDS:.0f} s, validation Recall@20 has been flat over the "
        f"last {FLAT_SHARE:.0%} "
        f"of the training seconds so far: its best rose by no more than {TOLERANCE:.1%} of "
        f"itself and no checkpoint in that stretch fell more than {FALL:.0%} below the best "
        "(\"plateau\"), or at its cap (\"cap\"; final runs: "
        f"{caps or 'none ran'}). A falling curve is not flat and runs to its cap: implicit's "
        "BPR with L2 falls after its first peak and climbs past it much later. The factors "
        "of the validation-best checkpoint are kept and test is scored once, on them: a peer's "
        "Recall@20 / NDCG@20 are selected on validation, never on test. Its times are training "
        "seconds (evaluation excluded) to its validation best and to 98% of it, read at the "
        f"checkpoints (so up to {GROWTH:g}x late); test is not scored along the run, so it has no "
        "time to the target. "
        "recbce's quality run selects its epoch on the same validation split; its time run trains "
        "on all of training and is evaluated on test after every epoch (time = the epochs' "
        "training seconds from metrics.jsonl)."
    )


def measurements(systems: list[dict], unmeasured: list[str]) -> list[str]:
    """When and how each stored system was measured; the systems not measured yet."""
    lines = ["Each system's figures come from its own run (bench/results/peers/<system>.json), so "
             "systems measured at different hours of a shared machine differ by its load as well:", ""]
    for s in systems:
        m, run = s["measured"], "" if s["kind"] == "peer" else f" ({s['kind'].removeprefix('recbce-')} run)"
        lines.append(f"- {s['name']}{run}: {m['utc']} UTC, `{shown_command(m['command'])}`, load average "
                     f"{m['load'][0]:.1f} → {m['load'][1]:.1f}, {m['wall'] / 60:.1f} min of wall time")
    if unmeasured:
        lines += ["", "Not yet measured under this protocol: " + ", ".join(unmeasured) + " (each: "
                  f"`{COMMAND} --peers NAME --recbce`, or `--peers --recbce NAME=CONFIG`)."]
    return lines


def shown_command(command: str) -> str:
    """A stored command as it is run today (OLD_COMMAND's runs: COMMAND, the same arguments)."""
    if command == OLD_COMMAND or command.startswith(OLD_COMMAND + " "):
        return COMMAND + command.removeprefix(OLD_COMMAND)
    return command


def render(systems: list[dict], target: float, unmeasured: list[str] = ()) -> str:
    rows = [peer_row(s, target) if s["kind"] == "peer" else recbce_row(s, target) for s in systems]
    rows += refit_rows(systems)
    lines = [
        "## Peers on Gowalla (issue 5)", "",
        f"Command: `{COMMAND}` (or `make bench ONLY=peers`). Machine: {machine()}.", "",
        *measurements(systems, list(unmeasured)), "",
        "Gowalla, the LightGCN train/test split; d = 64 for every system; every model scored by "
        "recbce's own full-ranking evaluator (`recbce.evaluation.ranking.evaluate`; train items removed), "
        "peers through their user/item factors (+ item biases where the peer has them). "
        + protocol(systems), "",
        *table(rows, target), "",
        *ratio_lines(rows, target), "",
        f"The same against each peer's time to {TO['to_near_best']} (a curve that creeps up until "
        "it stops otherwise \"reaches its best\" only when the run ends):", "",
        *ratio_lines(rows, target, key="to_near_best"), "",
        *grids(systems),
        *histories(systems), "",
        "Scored pairs/s: (positive + negative) pairs per training second; WARP draws a varying "
        "number of negatives, so only its positives/s is given. Peak RSS is each process's own "
        "(a peer's final run), from os.wait4, data loading and evaluation included (the evaluator "
        "scores 2,048 users against every item at once, about 330 MB, for every system alike).",
    ]
    return "\n".join(lines) + "\n"
