"""The ml-100k benchmark's table: every seed's row and the mean of each column."""

from bench.bench_ml100k import table


def test_table_gives_each_seed_and_the_column_means():
    rows = [{"seed": s, "epochs": e, "selected": {"hr@10": h, "ndcg@10": h / 2},
             "refit": {"hr@10": h + 0.01, "ndcg@10": 0.05}}
            for s, e, h in [(0, 8, 0.14), (1, 12, 0.16)]]
    lines = table("c.yaml", rows).splitlines()
    assert lines[0] == "`c.yaml`:"
    assert lines[4] == "| 0 | 8 | 0.1400 | 0.0700 | 0.1500 | 0.0500 |"
    assert lines[-1] == "| mean | | **0.1500** | **0.0750** | **0.1600** | **0.0500** |"
