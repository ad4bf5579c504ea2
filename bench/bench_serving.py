"""Serving a run on Gowalla: `recommend` for every user and `similar_items` for every item,
against a plain torch baseline (matmul + topk per block) in the same run.

The run folder is written as training writes it (config.yaml, model.pt, inference.pt) for a
model with random d = 64 embeddings (seed 0): speed does not depend on what the weights
learned. Each side runs REPEATS times, alternating; the table keeps each side's fastest
(the machine is shared, so the slower repeats measure the neighbours). Writes
bench/results/serving.md.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

import recbce
from bench.measure import timed
from recbce import runs
from recbce.config import load_config, with_absolute_data_paths
from recbce.data.dataset import load_dataset
from recbce.data.history import scoring_inputs
from recbce.training.state import build

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
K = 10
REPEATS = 3
BASELINE_CHUNK = 1024
DATA = ROOT.parent / "shared" / "data" / "gowalla" / "train.txt"
COMMAND = "make bench ONLY=serving  (or: python -m bench.bench_serving)"


def write_run(run_dir: Path) -> None:
    """A Gowalla run folder with a random model, written by the same calls as training."""
    config = load_config(ROOT / "configs" / "gowalla.yaml", ["data.split.valid_ratio=0", f"data.path={DATA}",
                                                             f"data.split.test_path={DATA.with_name('test.txt')}"])
    config = with_absolute_data_paths(config)
    dataset = load_dataset(config.data, config.seed)
    model = build(dataset, config, torch.Generator().manual_seed(0), torch.device("cpu"))[0].eval()
    run_dir.mkdir(parents=True)
    folder = runs.RunFolder(run_dir)
    folder.write_config(config)
    folder.save_model(model, dataset.user_ids, dataset.item_ids)
    runs.save_inference(run_dir, dataset, scoring_inputs(dataset, config.model))


def baseline_recommend(p: torch.Tensor, q: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per block of users: one matmul with the item biases, then topk. No seen items removed,
    no ids, no table."""
    tops = []
    for block in p.split(BASELINE_CHUNK):
        tops.append(torch.addmm(bias, block, q.T).topk(K, dim=1).indices)
    return torch.cat(tops)


def baseline_similar(items: torch.Tensor) -> torch.Tensor:
    """Per block of items: unit vectors, one matmul, the item itself at −inf, topk."""
    unit = F.normalize(items, dim=1)
    tops = []
    for start in range(0, len(unit), BASELINE_CHUNK):
        block = unit[start:start + BASELINE_CHUNK] @ unit.T
        block[torch.arange(len(block)), torch.arange(start, start + len(block))] = -torch.inf
        tops.append(block.topk(K, dim=1).indices)
    return torch.cat(tops)


def measure(run_dir: Path) -> dict:
    seconds_load, rec = timed(recbce.load, run_dir)  # Recommender.load, as the API hands it out
    vectors = rec.vectors()
    p, q = vectors.users, vectors.items
    bias = vectors.item_bias.unsqueeze(0)
    all_items = list(rec.items.values)
    best = {name: float("inf") for name in ("recommend", "baseline_recommend", "similar", "baseline_similar")}
    for _ in range(REPEATS):
        for name, function in (("baseline_recommend", lambda: baseline_recommend(p, q, bias)),
                               ("recommend", lambda: rec.recommend(None, k=K)),
                               ("baseline_similar", lambda: baseline_similar(q)),
                               ("similar", lambda: rec.similar_items(all_items, k=K))):
            seconds, result = timed(function)
            best[name] = min(best[name], seconds)
            if name == "recommend":
                rows = len(result)
            if name == "similar":
                similar = result
    unseen = rec.recommend(None, k=K, exclude_seen=False)  # what the baseline computes
    unit = F.normalize(q, dim=1)
    differ = {"recommend": agree(rec, unseen["item"], unseen["score"], baseline_recommend(p, q, bias),
                                 lambda top: (p.unsqueeze(1) * q[top]).sum(-1) + bias[0, top]),
              "similar": agree(rec, similar["similar"], similar["score"], baseline_similar(q),
                               lambda top: (unit.unsqueeze(1) * unit[top]).sum(-1))}
    return {**best, "load": seconds_load, "rows": rows, "users": len(rec.users), "items": len(rec.items),
            "differ": differ}


def agree(rec, items, scores, plain: torch.Tensor, plain_scores) -> int:
    """Rows whose top K differ from the plain way's: only swaps of scores equal to within float
    rounding (blocks of other sizes sum in another order), checked; returns their count."""
    ours = torch.from_numpy(rec.items.find(items).reshape(-1, K))
    values = torch.from_numpy(scores.to_numpy().reshape(-1, K))
    assert torch.allclose(values, plain_scores(plain), rtol=0, atol=1e-5)
    return int((ours != plain).any(1).sum())


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    with tempfile.TemporaryDirectory() as folder:
        write_run(Path(folder) / "run")
        result = measure(Path(folder) / "run")
    print(json.dumps(result, indent=2))
    rec, sim = "recommend", "similar"
    rec_ratio = result[rec] / result[f"baseline_{rec}"]
    sim_ratio = result[sim] / result[f"baseline_{sim}"]
    differ = result["differ"]
    text = f"""## Serving: recommend and similar items (`bench_serving.py`)

A Gowalla run folder (model.pt + inference.pt; a model with random d = 64 embeddings and item
biases, seed 0), loaded by `Recommender.load` in {result['load']:.2f} s. `recommend`: the top {K}
for every user ({result['users']:,}) over every item ({result['items']:,}), seen items removed,
returned as a DataFrame of {result['rows']:,} rows in the data's ids. `similar`: the {K} nearest
items by cosine for every item. The baselines, in the same process and run, are plain torch:
per {BASELINE_CHUNK:,}-row block one matmul (`addmm` with the biases; for items, of unit vectors
with the item itself at −inf) then `topk`; no seen items removed, no tie order, no ids, no
table. `recommend` with seen items kept gives the baseline's top {K}, and `similar` the same
neighbours, except where two scores are equal to within float rounding (rows that differ:
{differ['recommend']} of {result['users']:,} and {differ['similar']} of {result['items']:,}; their scores
checked to 1e-5). Fastest of {REPEATS} alternating repeats each, {torch.get_num_threads()} torch threads, on a
shared machine that other jobs were loading: the ratios, measured side by
side, are the figures to read. Reproduce: `{COMMAND}`

| task | recbce (s) | plain torch (s) | recbce / plain |
|---|---|---|---|
| recommend, all users, k = {K} | {result[rec]:.2f} | {result[f'baseline_{rec}']:.2f} | {rec_ratio:.2f} |
| similar items, all items, k = {K} | {result[sim]:.2f} | {result[f'baseline_{sim}']:.2f} | {sim_ratio:.2f} |
"""
    runs.write_text(HERE / "results" / "serving.md", text)
    print(text)


if __name__ == "__main__":
    main()
