"""The cost-curve benchmark's pure parts: the long-tail generator, the log writer, the ratios."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.bench_scale import long_tail, shape, updated_rows, write_log
from bench.scale_report import ratio_lines, report


def test_long_tail_stays_in_range_and_puts_most_draws_on_few_indices():
    draws = long_tail(np.random.default_rng(0), 1000, 200_000, 2.0)
    assert draws.min() >= 0 and draws.max() < 1000
    counts = np.sort(np.bincount(draws, minlength=1000))[::-1]
    assert counts[:100].sum() > 0.3 * len(draws)  # the top 10% of indices: sqrt(0.1) of the mass
    assert counts[-1] > 0  # and the tail is still drawn
    assert np.argmax(np.bincount(draws)) != 0  # popularity is shuffled, not the index order


def test_long_tail_is_reproducible_from_the_generator():
    a = long_tail(np.random.default_rng(3), 50, 100, 3.0)
    b = long_tail(np.random.default_rng(3), 50, 100, 3.0)
    assert np.array_equal(a, b)


def test_write_log_writes_the_rows_asked_for_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("bench.bench_scale.CHUNK", 700)
    rows, users, items = shape(0.002)
    assert (rows, users, items) == (2000, 40, 10)
    frame = pd.read_csv(write_log(tmp_path / "log.tsv", rows, users, items), sep="\t", header=None)
    assert len(frame) == rows and frame[0].max() < users and frame[1].max() < items


def test_ratio_lines_compare_the_largest_size_with_the_smallest():
    def figures(load_s, epoch):
        return {"load": {"seconds": load_s, "kept": 100, "train": 10, "items": 5},
                "per-pair": {"epoch": epoch, "step": 1.0, "rows": 10},
                "shared": {"epoch": epoch, "step": 1.0, "rows": 10},
                "eval": {"seconds": 1.0, "sampled": 2}}

    lines = ratio_lines({1.0: figures(1.0, 1.0), 10.0: figures(10.0, 20.0)})
    assert lines[0].endswith("| 10.00x | no |")
    assert lines[1].endswith("| 20.00x | no |")
    assert lines[3].endswith("| 1.00x | yes |")
    assert ratio_lines({1.0: figures(1.0, 1.0)}) == []


def test_updated_rows_counts_the_distinct_vector_rows_a_step_touched():
    import torch

    model = torch.nn.Module()
    model.user = torch.nn.Embedding(10, 4, sparse=True)
    model.item = torch.nn.Embedding(20, 4, sparse=True)
    model.item_bias = torch.nn.Embedding(20, 1, sparse=True)  # a bias is not a vector row
    loss = (model.user(torch.tensor([1, 1, 3])).sum() + model.item(torch.tensor([2, 5, 5, 7])).sum()
            + model.item_bias(torch.tensor([2, 5])).sum())
    loss.backward()
    assert updated_rows(model) == 2 + 3


def test_ratio_lines_add_the_cost_per_updated_row_when_measured():
    def figures(step, rows):
        train = {"epoch": 1.0, "step": step, "rows": rows}
        return {"load": {"seconds": 1.0, "kept": 100, "train": 10, "items": 5},
                "per-pair": train, "shared": train, "eval": {"seconds": 1.0, "sampled": 2}}

    lines = ratio_lines({1.0: figures(1.0, 100), 100.0: figures(8.0, 1000)})
    per_row = [line for line in lines if "per updated row" in line]
    assert len(per_row) == 2 and per_row[0].endswith("| 0.80x | yes |")


def test_report_names_the_sizes_not_measured_yet_and_the_ratio_over_those_measured():
    stage = {"epoch": 1.0, "step": 1.0, "rows": 10}
    figures = {"load": {"seconds": 1.0, "kept": 100, "train": 10, "items": 5},
               "per-pair": stage, "shared": stage, "eval": {"seconds": 1.0, "sampled": 2}}
    text = report(["| a size's line |"], {1.0: figures, 10.0: figures}, [1.0, 10.0, 30.0],
                  command="make bench ONLY=scale", threads=1, steps={"per-pair": 10, "shared": 30},
                  eval_users=10_000)
    assert "| a size's line |" in text and "Command: `make bench ONLY=scale`" in text
    assert "| stage | 1 M | 10 M | ratio | flat? |" in text and "| 1.00x | yes |" in text
    assert text.rstrip().endswith("Not measured: 30 M.")
