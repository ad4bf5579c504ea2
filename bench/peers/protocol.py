"""How a peer is given its best: a grid of settings screened on validation, then the chosen
setting trained until its validation curve is flat.

A peer trains one epoch at a time (its `train(1)`); its factors are scored on the validation
split at checkpoints spaced geometrically in training seconds, and the run stops at the first
checkpoint where, after at least `min_epochs` epochs and `min_seconds` of training (a minute;
a final run: also as long as its screen took to its best), the validation Recall@20 has been flat
over the last quarter of the training seconds so far (the plateau: its best rose by at most
`tolerance`, relative, and no checkpoint in that quarter lies more than FALL below the best),
or when training reaches `cap` seconds. A falling curve is not flat, so it runs to its cap:
curves fall and climb again (implicit's BPR with L2 0.01 on Gowalla peaks at 16 s, falls by a
tenth until 60 s, passes its first peak at 140 s and still climbs at 300 s), and a rule that
stops a run some time after its best would have stopped that one in the fall. The factors of
the validation-best checkpoint are kept (copied), so test is scored on exactly those, once,
by the caller. Nothing here ever sees test.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable

GROWTH = 1.25  # the next checkpoint once training seconds have grown by this factor
MIN_EPOCHS = 10  # no plateau verdict before this many epochs (a curve may sit flat at the start)
# ... nor before this many training seconds: fast peers run 10 epochs in a second or two, and
# Cornac's BPR at L2 1e-3 sat flat at 0.025 for its first ones (stopped at 1.5 s without this).
MIN_SECONDS = 60.0
TOLERANCE = 0.005  # a rise of at most 0.5% of the earlier best counts as flat
FALL = 0.02  # ... and a checkpoint more than 2% below the best does not (the curve still moves)
FLAT_SHARE = 0.25  # ... over the last quarter of the run so far
# A screened setting still rising at the screening cap (its best in the last quarter of the
# screen) within this share of the leading figure may pass the leader given time: it gets a
# final run too, and the final runs' validation bests decide.
CONTENDER = 0.95
METRIC = "recall@20"


def train_to_plateau(system, evaluate: Callable, cap: float, *, min_epochs: int = MIN_EPOCHS,
                     min_seconds: float = MIN_SECONDS,
                     growth: float = GROWTH, tolerance: float = TOLERANCE,
                     clock: Callable[[], float] = time.perf_counter) -> tuple[dict, object]:
    """(result, the validation-best checkpoint's scorer). `evaluate(scorer)` returns validation
    metrics; only training time is counted (evaluation and copying are not)."""
    trained, epochs, history, kept, next_check = 0.0, 0, [], None, 0.0
    while True:
        started = clock()
        system.train(1)
        trained += clock() - started
        epochs += 1
        if trained < min(next_check, cap):
            continue
        scorer = system.scorer()
        scores = evaluate(scorer)
        history.append({"epoch": epochs, "train_seconds": round(trained, 3),
                        METRIC: scores[METRIC], "ndcg@20": scores.get("ndcg@20")})
        if kept is None or scores[METRIC] > best_of(history[:-1]):
            kept = copy.deepcopy(scorer)  # a peer may update its factors in place as it trains on
        enough = epochs >= min_epochs and trained >= min_seconds
        stopped = stop_reason(history, trained >= cap, enough, tolerance)
        if stopped:
            break
        next_check = trained * growth
    best = max(history, key=lambda h: h[METRIC])  # the first of equal bests, as `kept`
    return {"settings": system.settings, "cap": cap, "history": history, "best": best,
            "stopped": stopped, "epochs": epochs,
            "train_seconds": round(trained, 3),
            "pairs_per_positive": getattr(system, "pairs_per_positive", None)}, kept


def stop_reason(history: list[dict], capped: bool, enough: bool, tolerance: float) -> str | None:
    if capped:
        return "cap"
    if enough and plateau(history, tolerance):
        return "plateau"
    return None


def best_of(history: list[dict]) -> float:
    return max((h[METRIC] for h in history), default=float("-inf"))


def plateau(history: list[dict], tolerance: float = TOLERANCE, share: float = FLAT_SHARE,
            fall: float = FALL) -> bool:
    """True when the best so far exceeds the best of the checkpoints before the last `share` of
    the training seconds by no more than `tolerance` of the latter, and no checkpoint within
    that share is more than `fall` below the best (False with no checkpoint before it)."""
    now = history[-1]["train_seconds"]
    before = [h for h in history if h["train_seconds"] <= (1 - share) * now]
    if not before:
        return False
    earlier, best = best_of(before), best_of(history)
    recent = min(h[METRIC] for h in history if h["train_seconds"] >= (1 - share) * now)
    return best - earlier <= tolerance * abs(earlier) and recent >= (1 - fall) * best


def seconds_to(history: list[dict], fraction: float) -> float:
    """Training seconds at the first checkpoint whose metric reached `fraction` of the best."""
    best = best_of(history)
    return next(h["train_seconds"] for h in history if h[METRIC] >= fraction * best)


def settings_grid(table: dict[str, tuple]) -> list[dict[str, float]]:
    """Every combination of a peer's grid table {"lr": (...), "reg": (...)}; [{}] for none."""
    names = list(table)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*table.values())]


def tune(grid: list[dict], run: Callable, screen_cap: float, cap: float) -> dict:
    """Screen every setting with `run(setting, screen_cap, screen=True)` (validation only); run
    the best validation Recall@20 and every contender (`contenders`) with `cap`, and keep the
    final run with the best validation Recall@20; `run` returns (result, rss MiB, wall s). A
    final run trains at least as long as its screen took to its best: a curve that peaks, dips
    and climbs again (implicit's) is flat for a while around its first peak."""
    screened = []
    if len(grid) > 1:
        for setting in grid:
            result, _, wall = run(setting, screen_cap, screen=True)
            screened.append({"setting": setting, "valid": result["best"][METRIC],
                             "to_best": result["best"]["train_seconds"], "stopped": result["stopped"],
                             "train_seconds": result["train_seconds"], "wall": wall,
                             "measured": result.get("measured")})
    finals = []
    for setting in contenders(screened) if screened else grid[:1]:
        took = next((s["to_best"] for s in screened if s["setting"] == setting), 0.0)
        least = max(MIN_SECONDS, took)
        result, rss, wall = run(setting, cap, screen=False, min_seconds=least)
        finals.append({"result": {**result, "setting": setting}, "rss_mib": rss, "wall": wall})
    chosen = max(finals, key=lambda f: f["result"]["best"][METRIC])  # the first of equals
    others = [{"setting": f["result"]["setting"], "valid": f["result"]["best"][METRIC],
               "to_best": f["result"]["best"]["train_seconds"], "stopped": f["result"]["stopped"],
               "train_seconds": f["result"]["train_seconds"]} for f in finals if f is not chosen]
    return {**chosen, "grid": screened, "screen_cap": screen_cap, "other_finals": others}


def contenders(screened: list[dict], share: float = CONTENDER) -> list[dict]:
    """The best screened setting (the first of equals), then every other one that was still
    rising when the screening cap stopped it (best in the last quarter of the screen) and
    reached `share` of the best figure. Test is never read."""
    leader = max(screened, key=lambda s: s["valid"])
    rising = [s for s in screened if s is not leader and s["stopped"] == "cap"
              and s["to_best"] >= (1 - FLAT_SHARE) * s["train_seconds"]
              and s["valid"] >= share * leader["valid"]]
    return [leader["setting"]] + [s["setting"] for s in rising]
