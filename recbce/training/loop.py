"""The training loop, top to bottom in one function, plus the few pieces it calls."""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import time

import torch
from tqdm.auto import tqdm

from recbce import runs
from recbce.config import Config
from recbce.data.dataset import Dataset, load_dataset, require_heldout
from recbce.data.sampling import SharedNegatives, batch_history, build_sampler, make_generator
from recbce.evaluation.ranking import evaluate_split
from recbce.evaluation.sampled import WARNING as SAMPLED_WARNING
from recbce.models.dot_product import DotProduct, Popularity
from recbce.runs import plots, tracking
from recbce.training import averaging, checkpoint, distributed
from recbce.training.checkpoint import Interrupted, Progress, StopFlag
from recbce.training.losses import build_loss
from recbce.training.optim import SPARSE_OPTIMIZERS, build_optimizer

SINGLE = distributed.Context()  # one process, on the CPU


def train(config: Config, overwrite: bool = False, resume: bool = False,
          progress: bool = True, log=print) -> dict | None:
    """Train the configured model, write the run folder, return the summary.

    Under torchrun every process runs this (see recbce.training.distributed): rank 0 alone
    writes, logs and evaluates, and the other ranks return None.
    """
    with distributed.session(config.train.device) as context:
        return train_on(context, config, overwrite, resume, progress, log)


def train_on(context: distributed.Context, config: Config, overwrite: bool, resume: bool,
             progress: bool, log) -> dict | None:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    keep_freed_memory()
    distributed.check_supported(config, context)
    log = log if context.is_main else _quiet
    dataset = load_dataset(config.data, config.seed)
    require_heldout(dataset, config.data.path)
    sampler = build_sampler(config.sampler, dataset.positives, dataset.item_counts())
    loss_fn = build_loss(config.loss, dataset.n_items)
    generator = make_generator(config.seed, context.rank)
    model, optimizer = build_model(dataset, config, generator, context.device)
    trainer = distributed.replicate(model, context)  # model itself in a single process
    run_dir = config.run_dir
    state = open_run(context, config, model, optimizer, generator, overwrite, resume, log)
    write_status(context, run_dir, "running")
    started = time.perf_counter()
    try:
        with StopFlag() as stop:
            while state.epoch <= config.train.epochs:
                finished = train_epoch(trainer, optimizer, sampler, loss_fn, dataset, config,
                                       generator, state, stop, progress and context.is_main, context)
                if not finished:
                    save_checkpoint(context, run_dir, model, optimizer, generator, state)
                    write_status(context, run_dir, "interrupted", f"epoch {state.epoch}, step {state.step}")
                    raise Interrupted(f"interrupted at epoch {state.epoch}, step {state.step}; "
                                      f"checkpoint saved. Resume with: {resume_command(context)} {run_dir}")
                # Rank 0 evaluates; the others wait in the broadcast of its early-stop decision.
                stop_early = end_epoch(model, dataset, config, state, log) if context.is_main else False
                stop_early = distributed.broadcast(stop_early, context)
                if context.is_main:
                    runs.write_jsonl(run_dir / "metrics.jsonl", state.history)
                    tracking.log_epoch(config, state.history[-1])
                state.epoch, state.step, state.order, state.loss_sum = state.epoch + 1, 0, None, 0.0
                save_checkpoint(context, run_dir, model, optimizer, generator, state)
                if stop_early:
                    break
    except Interrupted:
        raise
    except BaseException as err:
        write_status(context, run_dir, "failed", str(err).splitlines()[0] if str(err) else repr(err))
        raise
    if not context.is_main:
        return None
    return finish(model, dataset, config, state, time.perf_counter() - started)


def build_model(dataset: Dataset, config: Config, generator: torch.Generator, device: torch.device):
    """(model on `device`, its optimizer), initialised from the run's generator."""
    model = DotProduct.for_dataset(dataset, config.model, sparse=config.train.optimizer in SPARSE_OPTIMIZERS,
                                   generator=generator).to(device)
    return model, build_optimizer(model, config.train)


def keep_freed_memory(pad_bytes: int = 256 << 20) -> None:
    """Ask glibc to keep up to `pad_bytes` of freed heap instead of handing it back at once.

    A shared-pool step allocates and frees tens of MB of [B, P] temporaries; pages returned
    to the OS fault back in on the next step (gowalla-best's step: 45-49 ms with a 256 MB or
    1 GB pad, 102-105 ms with glibc's default; bench/results/train.md measures both). 256 MB
    rather than 1 GB: the same speed, and a 2-epoch Gowalla run peaked at 707 MiB instead
    of 884 MiB. Not glibc: no-op.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-2, pad_bytes)  # -2 is M_TOP_PAD in glibc's malloc.h


def open_run(context: distributed.Context, config: Config, model, optimizer, generator,
             overwrite: bool, resume: bool, log) -> Progress:
    """A fresh run folder (rank 0 makes it) or every rank's state back from the checkpoint."""
    run_dir = config.run_dir
    if resume:
        state = checkpoint.load(run_dir, model, optimizer, generator, context.rank, context.world_size)
        log(f"resuming {run_dir} at epoch {state.epoch}, step {state.step}")
    else:
        distributed.run_on_main(lambda: start_run_dir(run_dir, config, overwrite), context)
        state = Progress()
    if config.loss.name == "bce_pos_only":
        log("warning: bce_pos_only trains without negatives; its minimum scores every pair +inf, "
            "so the ranking it learns is arbitrary (see the README)")
    if config.eval.protocol == "sampled":
        log(f"note: {SAMPLED_WARNING}")
    return state


def start_run_dir(run_dir, config: Config, overwrite: bool) -> None:
    runs.prepare_run_dir(run_dir, overwrite)
    runs.write_config(run_dir, config)


def write_status(context: distributed.Context, run_dir, status: str, message: str = "") -> None:
    if context.is_main:
        checkpoint.write_status(run_dir, status, message)


def save_checkpoint(context: distributed.Context, run_dir, model, optimizer, generator, state) -> None:
    """Rank 0 writes it, with every rank's generator state, so each resumes its own stream."""
    rank_generators = distributed.gather_generator_states(generator, context)
    if context.is_main:
        checkpoint.save(run_dir, model, optimizer, generator, state, rank_generators)


def resume_command(context: distributed.Context) -> str:
    if not context.distributed:
        return "recbce train --resume"
    return f"torchrun <same {context.world_size} processes> -m recbce train --resume"


def _quiet(*args, **kwargs) -> None:
    """The log of ranks other than 0."""


def train_epoch(model, optimizer, sampler, loss_fn, dataset: Dataset, config: Config,
                generator: torch.Generator, state: Progress, stop: StopFlag, progress: bool,
                context: distributed.Context = SINGLE) -> bool:
    """Run the epoch's remaining steps; False if a stop signal came first (on any rank)."""
    model.train()
    ratio, batch_size, every = config.sampler.ratio, config.train.batch_size, config.train.checkpoint_every
    if state.order is None:
        state.order = distributed.shared_permutation(len(dataset.train), generator, context)
    batches = distributed.global_batches(state.order, batch_size, context)
    examples = len(state.order) * (1 + ratio)
    started = time.perf_counter()
    with tqdm(total=examples, initial=state.step * batch_size * (1 + ratio), unit="ex",
              unit_scale=True, desc=f"epoch {state.epoch}/{config.train.epochs}",
              disable=not progress, leave=False) as bar:
        for batch in batches[state.step:]:
            mine = distributed.local_part(batch, context)
            users, items = dataset.train.users[mine], dataset.train.items[mine]
            negatives = sampler.sample(users, items, ratio, generator)
            history = batch_history(dataset, config.model, mine, users, generator)
            users, items, negatives, history = to_device(context.device, users, items, negatives, history)
            share = distributed.share_of_loss(loss_fn, len(mine), len(batch), context)
            loss = train_step(model, optimizer, share, sampler, config, users, items, negatives, history)
            loss, stop_requested = distributed.agree(loss, stop.requested, context)
            state.loss_sum += loss * len(batch)
            state.step += 1
            bar.update(len(batch) * (1 + ratio))
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            if stop_requested:
                return False
            if every and state.step % every == 0 and state.step < len(batches):
                save_checkpoint(context, config.run_dir, model, optimizer, generator, state)
    seconds = time.perf_counter() - started
    state.history.append({
        "epoch": state.epoch,
        "loss": state.loss_sum / len(state.order),
        "seconds": round(seconds, 3),
        "examples_per_s": round(examples / seconds, 1),
    })
    return True


def train_step(model, optimizer, loss_fn, sampler, config: Config, users, items, negatives,
               history=None) -> float:
    """One gradient step on a batch of positives and their negatives; returns the loss."""
    pos, neg = score_batch(model, users, items, negatives, history)
    # A shared pool is one row of items for the whole batch: its log-Q correction and its
    # L2 term are taken once, not once per row that scores it.
    negative_items = negatives.pool if isinstance(negatives, SharedNegatives) else negatives.items
    if config.loss.logq:
        pos = pos - sampler.log_prob(items)
        neg = neg - sampler.log_prob(negative_items)
    loss = loss_fn(pos, neg)
    if config.loss.l2:
        loss = loss + config.loss.l2 * batch_l2(model, users, items, negative_items)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def to_device(device: torch.device, users, items, negatives, history=None):
    """The batch on the model's device (sampling stays on the CPU, where the index lives)."""
    if device.type == "cpu":
        return users, items, negatives, history
    moved = {f.name: None if getattr(negatives, f.name) is None else getattr(negatives, f.name).to(device)
             for f in dataclasses.fields(negatives)}
    history = None if history is None else history.to(device)
    return users.to(device), items.to(device), dataclasses.replace(negatives, **moved), history


def score_batch(model, users, items, negatives, history=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(pos [B], neg [B, k]), masked negatives at −inf: a shared pool is one matrix product;
    per-row negatives are scored with their positive, as one sparse product."""
    if isinstance(negatives, SharedNegatives):
        return model(users, items, negatives.pool, negatives.mask, history)
    scores = model(users, torch.cat([items.unsqueeze(1), negatives.items], dim=1), history=history)
    pos, neg = scores[:, 0], scores[:, 1:]
    if negatives.valid is not None:
        neg = torch.where(negatives.valid, neg, -torch.inf)  # half masked_fill's time
    return pos, neg


def batch_l2(model, users, items, negative_items) -> torch.Tensor:
    """Squared norm of the embeddings this batch uses, per positive (BPR/LightGCN convention).

    A shared pool's items count once per batch, not once per row that scores them."""
    used = (model.user(users).pow(2).sum() + model.item(items).pow(2).sum()
            + model.item(negative_items).pow(2).sum())
    return used / len(users)


def end_epoch(model, dataset: Dataset, config: Config, state: Progress, log) -> bool:
    """Average if due, evaluate if due, keep the best model; True when early stopping says stop."""
    every, record = config.train.eval_every, state.history[-1]
    if config.train.average_from and state.epoch >= config.train.average_from:
        state.average, state.averaged_epochs = averaging.update(state.average, state.averaged_epochs, model)
    if not every or (state.epoch % every and state.epoch != config.train.epochs):
        return False
    model = averaging.averaged(model, state.average)  # what is evaluated, selected and saved
    split = "valid" if dataset.valid is not None else "test"
    scores = evaluate_split(on_cpu(model), dataset, split, config.eval, seed=config.seed)
    record.update({f"{split}/{name}": value for name, value in scores.items()})
    metric = scores.get(config.eval.metric)
    log(f"epoch {state.epoch}: loss {record['loss']:.4f}, {record['examples_per_s']:,.0f} ex/s, "
        f"{split} {config.eval.metric} {metric:.4f}")
    if split != "valid":
        return False
    if state.best_metric is None or metric > state.best_metric:
        state.best_metric, state.best_epoch = metric, state.epoch
        state.best_state = copy.deepcopy(model.state_dict())
        state.evals_without_gain = 0
        return False
    state.evals_without_gain += 1
    patience = config.train.patience
    if patience and state.evals_without_gain >= patience:
        log(f"early stop: no {config.eval.metric} gain for {patience} evaluations; "
            f"best epoch {state.best_epoch}")
        return True
    return False


def finish(model, dataset: Dataset, config: Config, state: Progress, seconds: float) -> dict:
    """Keep the best validated model, write model, summary and status; return the summary."""
    run_dir = config.run_dir
    kept = state.best_state if state.best_state is not None else state.average  # no validation: the mean
    if kept is not None:
        model.load_state_dict(kept)
    model = model.cpu().eval()  # evaluated where the data index lives; model.pt loads anywhere
    runs.save_model(run_dir, model, dataset.user_ids, dataset.item_ids)
    summary = {
        "run_dir": str(run_dir),
        "epochs": len(state.history),
        "best_epoch": state.best_epoch,
        "train_seconds": round(seconds, 3),
        "test": evaluate_split(model, dataset, "test", config.eval, seed=config.seed),
        "popularity": evaluate_split(Popularity(dataset.item_counts()), dataset, "test", config.eval,
                                     seed=config.seed),
    }
    summary["curves"] = plots.save_training_curves(run_dir)
    runs.write_json(run_dir / "summary.json", summary)
    checkpoint.write_status(run_dir, "finished")
    return summary


def on_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """The model, or a CPU copy of it when it trains on an accelerator: evaluation indexes
    CPU tensors (the held-out pairs), so it scores on the CPU."""
    if next(model.parameters()).device.type == "cpu":
        return model
    return copy.deepcopy(model).cpu()
