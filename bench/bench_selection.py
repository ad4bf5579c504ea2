"""Each row's top 20: whole rows (topk, today's method until now) against the best tiles.

For catalogues of 1,682 to 500,000 items, a block of the users evaluation scores at once
(`chunk_users` with the default memory budget) of random d = 64 dot-product scores, with
3% of each row masked at -inf as training items are; both methods on the same blocks in the
same process, each timed over the same number of repetitions, their lists compared. Also
each tile width, to show why `TILE_WIDTH` is what it is. Writes bench/results/selection.md.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench.measure import bench_threads, load_average
from recbce import runs
from recbce.evaluation.blocks import chunk_users
from recbce.evaluation.selection import (
    TILE_WIDTH,
    TILES_FROM_ITEMS,
    ranked_top,
    top_by_sorting,
    top_by_tiles,
)

HERE = Path(__file__).resolve().parent
K = 20
SIZES = (1_682, 12_000, 40_981, 150_000, 500_000)
WIDTHS = (16, 32, 64, 128, 256)
COMMAND = "make bench ONLY=selection  (or: python -m bench.bench_selection)"


def block(n_items: int, generator: torch.Generator) -> torch.Tensor:
    rows = chunk_users(n_items, 256)
    scores = torch.randn(rows, 64, generator=generator) @ torch.randn(n_items, 64, generator=generator).T
    scores[torch.rand(rows, n_items, generator=generator) < 0.03] = -torch.inf
    return scores


def ns_per_score(select, scores: torch.Tensor) -> float:
    select(scores)  # warm-up
    repeats = max(3, int(3e8 // scores.numel()))
    started = time.perf_counter()
    for _ in range(repeats):
        select(scores)
    return (time.perf_counter() - started) / repeats / scores.numel() * 1e9


def measure(n_items: int) -> dict:
    scores = block(n_items, torch.Generator().manual_seed(n_items))
    assert torch.equal(ranked_top(scores, K), top_by_sorting(scores, K)), n_items
    figures = {"rows": len(scores), "sorting": ns_per_score(lambda s: top_by_sorting(s, K), scores),
               "shipped": ns_per_score(lambda s: ranked_top(s, K), scores)}
    for width in WIDTHS:
        if n_items // width >= 4 * (K + 1):
            assert torch.equal(top_by_tiles(scores, K, width), top_by_sorting(scores, K))
            figures[width] = ns_per_score(lambda s, w=width: top_by_tiles(s, K, w), scores)
    return figures


def main() -> None:
    torch.set_num_threads(bench_threads(1))
    load = load_average()
    lines = []
    for n_items in SIZES:
        f = measure(n_items)
        print(n_items, f, flush=True)
        method = f"tiles of {TILE_WIDTH}" if n_items >= TILES_FROM_ITEMS else "whole rows"
        widths = " | ".join(f"{f[w]:.2f}" if w in f else "" for w in WIDTHS)
        lines.append(f"| {n_items:,} | {f['rows']} | {f['sorting']:.2f} | {widths} | {method}: "
                     f"{f['shipped']:.2f} | {f['sorting'] / f['shipped']:.2f}x |")
    header = " | ".join(f"tiles of {w}" for w in WIDTHS)
    text = f"""## Selecting each row's top 20 (`bench_selection.py`)

A block of scores as evaluation holds it (the users `chunk_users` puts in a block under the
default 256 MB budget; random d = 64 dot products, 3% of each row at -inf like training
items), each row's 20 best, ties to the lowest item index. "whole rows": topk over every
score (`top_by_sorting`, what recbce ran before); "tiles of w": `top_by_tiles`, which finds
each tile's maximum and ranks only the 20 tiles with the largest; the last column is what
`ranked_top` runs (whole rows below {TILES_FROM_ITEMS:,} items). Every method gives the same
lists on every block (checked). ns per score, {torch.get_num_threads()} torch thread(s), load
average {load:.1f} at the start. Reproduce: `{COMMAND}`

| items | rows | whole rows | {header} | shipped | speed-up |
|---:|---:|---:|{'---:|' * len(WIDTHS)}---|---:|
""" + "\n".join(lines) + "\n"
    runs.write_text(HERE / "results" / "selection.md", text)
    print(text)


if __name__ == "__main__":
    main()
