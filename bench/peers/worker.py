"""One system of the peers benchmark, in its own process so its peak memory is its own.

    python -m bench.peers.worker peer implicit-bpr --set lr=0.01 --set reg=0 --cap 1800 --out result.json
    python -m bench.peers.worker recbce-time configs/gowalla-bce.yaml --out result.json
    python -m bench.peers.worker recbce-quality configs/gowalla-bce.yaml --out result.json

`peer` trains a peer on training minus the validation split of `--data-config` (recbce's
own loader and seed: the same validation users and items as recbce's quality runs) until
its validation curve is flat or `--cap` training seconds (bench/peers/protocol.py), then
scores test once on the factors of its validation-best checkpoint (not with --screen:
validation only, for choosing a setting). `recbce-time` trains on the whole training file
(valid_ratio 0) and evaluates on test after every epoch, so metrics.jsonl holds per-epoch
training seconds next to test Recall@20. `recbce-quality` trains the config as written and
reports the test metrics of the epoch its validation split selected.
"""

from __future__ import annotations

import argparse
import inspect
import json
import tempfile
from pathlib import Path

import recbce
from recbce import runs
from recbce.config import load_config
from recbce.data.dataset import load_dataset

DIM = 64


def run_peer(name: str, data_config: str, setting: dict, cap: float, screen: bool, seed: int,
             min_seconds: float | None = None) -> dict:
    from bench.peers.protocol import MIN_SECONDS, train_to_plateau
    from bench.peers.scorer import ranking_metrics
    from bench.peers.systems import PEERS

    if name not in PEERS:
        raise SystemExit(f"peers worker: no peer {name!r} (known: {', '.join(PEERS)})")
    unknown = set(setting) - set(inspect.signature(PEERS[name]).parameters)
    if unknown:
        raise SystemExit(f"peers worker: {name} takes no setting {', '.join(sorted(unknown))}")
    config = load_config(data_config)
    if not config.data.split.valid_ratio:
        raise SystemExit(f"peers worker: {data_config} has no validation split (data.split.valid_ratio)")
    dataset = load_dataset(config.data, config.seed)
    system = PEERS[name](dataset, DIM, seed, **setting)
    result, kept = train_to_plateau(system, lambda s: ranking_metrics(s, dataset, split="valid"), cap,
                                    min_seconds=MIN_SECONDS if min_seconds is None else min_seconds)
    if not screen:  # test: once, on the kept factors of the validation-chosen checkpoint
        result["test"] = ranking_metrics(kept, dataset, split="test")
    result["positives"] = len(dataset.train)
    return result


def parse_setting(pairs: list[str]) -> dict[str, float]:
    """--set lr=0.01 --set reg=0 -> {"lr": 0.01, "reg": 0.0}; a malformed one exits naming it."""
    setting = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            setting[key] = float(value)
        except ValueError:
            raise SystemExit(f"peers worker: --set {pair}: expected NAME=NUMBER") from None
    return setting


def run_recbce(mode: str, config_path: str) -> dict:
    """Train through the library's `recbce.train`, in a temporary run folder; return what it recorded."""
    with tempfile.TemporaryDirectory(prefix="recbce-bench-") as tmp:
        overrides = {"run.dir": tmp, "run.name": mode}
        if mode == "recbce-time":
            overrides |= {"data.split.valid_ratio": 0, "train.eval_every": 1}
        k = recbce.check_config(config_path, overrides, data=False).eval.k
        if 20 not in k:  # the report reads Recall@20 and NDCG@20 of every system
            overrides["eval.k"] = sorted(k + [20])
        run = recbce.train(config_path, overrides=overrides, overwrite=True)
        summary, config = run.summary, run.config
        history = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [{"epoch": h["epoch"], "seconds": h["seconds"], "examples_per_s": h["examples_per_s"],
               "recall@20": h.get("test/recall@20"), "ndcg@20": h.get("test/ndcg@20"),
               "valid_recall@20": h.get("valid/recall@20")} for h in history]
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
    parser.add_argument("--cap", type=float, default=1800.0, help="peer: most training seconds")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="peer: a setting its class takes (lr, reg)")
    parser.add_argument("--screen", action="store_true", help="peer: validation only, no test")
    parser.add_argument("--min-seconds", type=float, default=None,
                        help="peer: no plateau verdict before this many training seconds "
                             "(default: bench/peers/protocol.py MIN_SECONDS)")
    parser.add_argument("--data-config", default="configs/gowalla-best.yaml",
                        help="peers: the data and validation split (those of recbce's tuned config)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "peer":
        result = run_peer(args.target, args.data_config, parse_setting(args.set), args.cap,
                          args.screen, args.seed, min_seconds=args.min_seconds)
    else:
        result = run_recbce(args.mode, args.target)
    runs.write_json(args.out, result)


if __name__ == "__main__":
    main()
