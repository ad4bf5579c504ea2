"""The training loop, top to bottom in one function, plus the few pieces it calls."""

from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from recbce import runs
from recbce.config import Config, TrainConfig
from recbce.data import Dataset, load_dataset
from recbce.evaluate import evaluate_split
from recbce.losses import build_loss
from recbce.model import DotProduct, Popularity
from recbce.sampling import build_sampler


def train(config: Config, overwrite: bool = False, progress: bool = True) -> dict:
    """Train the configured model, write the run folder, return the summary."""
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    dataset = load_dataset(config.data, config.seed)
    sampler = build_sampler(config.sampler, dataset.positives)
    loss_fn = build_loss(config.loss)
    generator = torch.Generator().manual_seed(config.seed)
    model = DotProduct(
        dataset.n_users, dataset.n_items, config.model,
        sparse=config.train.optimizer == "sparse_adam", generator=generator,
    )
    optimizer = build_optimizer(model, config.train)
    run_dir = config.run_dir
    runs.prepare_run_dir(run_dir, overwrite)
    runs.write_config(run_dir, config)

    history, started = [], time.perf_counter()
    split = "valid" if dataset.valid is not None else "test"
    for epoch in range(1, config.train.epochs + 1):
        record = {"epoch": epoch}
        record.update(train_epoch(model, optimizer, sampler, loss_fn, dataset, config, generator,
                                  desc=f"epoch {epoch}/{config.train.epochs}", progress=progress))
        every = config.train.eval_every
        if every and (epoch % every == 0 or epoch == config.train.epochs):
            scores = evaluate_split(model, dataset, split, config.eval)
            record.update({f"{split}/{name}": value for name, value in scores.items()})
        history.append(record)
        runs.write_jsonl(run_dir / "metrics.jsonl", history)
    train_seconds = time.perf_counter() - started

    runs.save_model(run_dir, model, dataset.user_ids, dataset.item_ids)
    summary = {
        "run_dir": str(run_dir),
        "epochs": config.train.epochs,
        "train_seconds": round(train_seconds, 3),
        "test": evaluate_split(model, dataset, "test", config.eval),
        "popularity": evaluate_split(Popularity(dataset.item_counts()), dataset, "test", config.eval),
    }
    runs.write_json(run_dir / "summary.json", summary)
    return summary


def train_epoch(model, optimizer, sampler, loss_fn, dataset: Dataset, config: Config,
                generator: torch.Generator, desc: str, progress: bool) -> dict:
    """One pass over the training positives in a fresh random order."""
    model.train()
    ratio, batch_size = config.sampler.ratio, config.train.batch_size
    order = torch.randperm(len(dataset.train), generator=generator)
    total_loss, started = torch.zeros((), dtype=torch.float64), time.perf_counter()
    with tqdm(total=len(order) * (1 + ratio), unit="ex", unit_scale=True, desc=desc,
              disable=not progress, leave=False) as bar:
        for batch in order.split(batch_size):
            users, items = dataset.train.users[batch], dataset.train.items[batch]
            negatives = sampler.sample(users, ratio, generator)
            loss = loss_fn(model(users, items), model(users, negatives))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += loss.detach() * len(batch)
            bar.update(len(batch) * (1 + ratio))
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    seconds = time.perf_counter() - started
    return {
        "loss": float(total_loss / len(order)),
        "seconds": round(seconds, 3),
        "examples_per_s": round(len(order) * (1 + ratio) / seconds, 1),
    }


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = list(model.parameters())
    if config.optimizer == "sparse_adam":
        return torch.optim.SparseAdam(params, lr=config.lr)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
