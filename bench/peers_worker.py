"""One system of the peers benchmark, in its own process so its peak memory is its own.

    python -m bench.peers_worker peer implicit-bpr --budget 120 --out result.json
    python -m bench.peers_worker recbce-time configs/gowalla-bce.yaml --out result.json
    python -m bench.peers_worker recbce-quality configs/gowalla-bce.yaml --out result.json

`recbce-time` trains on the whole training file (valid_ratio 0) and evaluates on test
after every epoch, so metrics.jsonl holds per-epoch training seconds next to test
Recall@20. `recbce-quality` trains the config as written and reports the test
metrics of the epoch its validation split selected.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from recbce import runs
from recbce.config import load_config
from recbce.data.dataset import load_dataset
from recbce.training.loop import train

DIM = 64


def run_peer(name: str, data_config: str, budget: float, seed: int) -> dict:
    from bench.peer_systems import PEERS, train_with_budget

    config = load_config(data_config, ["data.split.valid_ratio=0"])
    dataset = load_dataset(config.data, config.seed)
    system = PEERS[name](dataset, DIM, seed)
    result = train_with_budget(system, dataset, budget)
    result["positives"] = len(dataset.train)
    return result


def run_recbce(mode: str, config_path: str) -> dict:
    """Train through recbce's own `train`, in a temporary run folder; return what it recorded."""
    with tempfile.TemporaryDirectory(prefix="recbce-bench-") as tmp:
        overrides = [f"run.dir={tmp}", f"run.name={mode}"]
        if mode == "recbce-time":
            overrides += ["data.split.valid_ratio=0", "train.eval_every=1"]
        config = load_config(config_path, overrides)
        if 20 not in config.eval.k:
            config = load_config(config_path, overrides + [f"eval.k={sorted(config.eval.k + [20])}"])
        summary = train(config, overwrite=True, progress=False, log=lambda *_: None)
        history = [json.loads(line) for line in (config.run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [{"epoch": h["epoch"], "seconds": h["seconds"], "examples_per_s": h["examples_per_s"],
               "recall@20": h.get("test/recall@20"), "ndcg@20": h.get("test/ndcg@20")} for h in history]
    return {"settings": describe(config), "epochs": epochs, "best_epoch": summary["best_epoch"],
            "test": {k: summary["test"][k] for k in ("recall@20", "ndcg@20")}}


def describe(config) -> str:
    bias = " + item bias" if config.model.bias else ""
    average = f", average_from={config.train.average_from}" if config.train.average_from else ""
    return (f"dim={config.model.dim}, {config.model.scorer}{bias}, loss={config.loss.name}, "
            f"sampler={config.sampler.kind} x{config.sampler.ratio}, batch={config.train.batch_size}, "
            f"{config.train.optimizer} lr={config.train.lr}, epochs={config.train.epochs}{average}, "
            f"valid_ratio={config.data.split.valid_ratio:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["peer", "recbce-time", "recbce-quality"])
    parser.add_argument("target", help="peer name, or a recbce config path")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--budget", type=float, default=120.0, help="peer training seconds")
    parser.add_argument("--data-config", default="configs/gowalla.yaml", help="peers: where the data is")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "peer":
        result = run_peer(args.target, args.data_config, args.budget, args.seed)
    else:
        result = run_recbce(args.mode, args.target)
    runs.write_json(args.out, result)


if __name__ == "__main__":
    main()
