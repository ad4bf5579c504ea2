"""The cost curve's report (bench/results/scale.md): per-size table lines, cost per
interaction and the ratio of the largest size over the smallest (criterion: within 1.5x)."""

from __future__ import annotations


def per_interaction(figures: dict) -> dict[str, float]:
    """Microseconds per interaction: loading per row kept, an epoch per training row, and
    evaluation per scored (user, item) pair in nanoseconds (full ranking is users x items)."""
    load, train = figures["load"], figures["load"]["train"]
    return {"load": 1e6 * load["seconds"] / load["kept"],
            "per-pair": 1e6 * figures["per-pair"]["epoch"] / train,
            "shared": 1e6 * figures["shared"]["epoch"] / train,
            **{stage: 1e9 * figures[stage]["seconds"] / (figures[stage]["sampled"] * load["items"])
               for stage in ("eval", "eval whole rows") if stage in figures},
            **{f"{mode} per updated row": 1e9 * figures[mode]["step"] / figures[mode]["rows"]
               for mode in ("per-pair", "shared")}}


def gib(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def table_lines(millions: float, made: float, f: dict) -> list[str]:
    load, cost = f["load"], per_interaction(f)
    size = (f"{millions:g} M | {load['kept']:,} | {load['users']:,} x {load['items']:,}")
    lines = [f"| {size} | load + split | {load['seconds']:.1f} s (generate {made:.1f} s) | "
             f"{cost['load']:.2f} µs/row | {gib(load['peak'])} | | {load['uptime']} |"]
    for mode in ("per-pair", "shared"):
        t = f[mode]
        lines.append(f"| {size} | train {mode} | {t['step'] * 1e3:.0f} ms/step x {t['steps']:,} steps = "
                     f"**{t['epoch']:.0f} s/epoch** (extrapolated); {t['rows']:,.0f} embedding rows "
                     f"updated a step | {cost[mode]:.2f} µs/row; "
                     f"{cost[mode + ' per updated row']:.0f} ns per updated row | "
                     f"{gib(t['peak'])} | {gib(t['stage_peak'])} | {t['uptime']} |")
    e = f["eval"]
    lines.append(f"| {size} | eval {e['sampled']:,} users | {e['seconds']:.1f} s; all {e['test_users']:,} "
                 f"users **{e['all_users']:.0f} s** (extrapolated) | {cost['eval']:.2f} ns/score | "
                 f"{gib(e['peak'])} | {gib(e['stage_peak'])} | {e['uptime']} |")
    if "eval whole rows" in f:  # the same users with the selection recbce ran before the tiles
        w = f["eval whole rows"]
        same = "the same" if w["recall"] == e["recall"] else "**not** the same"
        lines.append(f"| {size} | eval, whole rows | {w['seconds']:.1f} s; all users "
                     f"**{w['all_users']:.0f} s**; {same} Recall@20 | "
                     f"{cost['eval whole rows']:.2f} ns/score; tiles "
                     f"{w['seconds'] / e['seconds']:.2f}x faster | {gib(w['peak'])} | "
                     f"{gib(w['stage_peak'])} | {w['uptime']} |")
    return lines


def ratio_lines(measured: dict[float, dict]) -> list[str]:
    """Cost per interaction of the largest size over the smallest, per stage (criterion: <= 1.5)."""
    sizes = sorted(measured)
    if len(sizes) < 2:
        return []
    low, high = per_interaction(measured[sizes[0]]), per_interaction(measured[sizes[-1]])
    return [f"| {stage} | {low[stage]:.3f} | {high[stage]:.3f} | {high[stage] / low[stage]:.2f}x | "
            f"{'yes' if high[stage] / low[stage] <= 1.5 else 'no'} |" for stage in low]


def report(lines: list[str], measured: dict, sizes: list[float], command: str, threads: int,
           steps: dict[str, int], eval_users: int) -> str:
    """scale.md: the table lines of each size measured, the ratios, and what is not measured yet."""
    sizes_done = sorted(measured)
    missing = [f"{s:g} M" for s in sizes if s not in measured]
    low, high = (f"{sizes_done[0]:g} M", f"{sizes_done[-1]:g} M")
    return "\n".join([
        "## The cost curve: 1 M to 100 M interactions (`bench/bench_scale.py`)",
        "",
        f"Command: `{command}`. Generated logs (`user item`, users = rows / 50, items = rows / 200,",
        "user activity and item popularity long-tailed: `bench_scale.long_tail`, exponents 1.25 and 2),",
        "in a temporary folder, deleted after each size. Every stage runs in its own process,",
        f"with {threads} torch thread(s) (BENCH_THREADS), d = 64.",
        f"Training: median of {steps['per-pair']} (per-pair: BCE, 4 uniform negatives, batch 65,536) or",
        f"{steps['shared']} (shared: gowalla-best without model.history, pool 1,024, batch 1,024) steps",
        "after one warm-up, **extrapolated** to a full epoch (steps x median step).",
        f"Evaluation: full ranking at K = 20 of {eval_users:,} test users drawn once, random d = 64",
        "model; the time for all test users is **extrapolated** linearly. Full ranking scores",
        "users x items pairs, so its cost per *score* (ns) is the figure that can stay flat.",
        "\"eval, whole rows\": the same users in the same run, their top 20 selected as recbce did",
        "before 2026-12-08: whole rows of items a block, topk over every score (the rest is today's).",
        "Peak = the stage process's maximum resident memory, loading included; stage peak = the",
        "high-water mark after loading. Load = `uptime` load averages (1/5/15 min) when the stage",
        "ended: the machine is shared with other training runs, so times are noisy; memory is not.",
        "",
        "| size | rows kept | users x items | stage | time | cost | peak GiB | stage peak GiB | load |",
        "|---|---|---|---|---|---|---|---|---|",
        *lines,
        "",
        f"Cost per interaction, {high} over {low} (criterion: within 1.5x); the training stages",
        "also per updated embedding row (ns), the unit of lazy Adam's work:",
        "",
        f"| stage | {low} | {high} | ratio | flat? |",
        "|---|---|---|---|---|",
        *ratio_lines(measured),
        "",
        *([f"Not measured: {', '.join(missing)}."] if missing else []),
        "",
    ])
