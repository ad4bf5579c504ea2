"""The training loop, read top to bottom: `train_on` claims the run folder, loads the data and
builds the state; `supervise` runs `train_epochs` (each epoch a loop of `next_batch` and
`train_step`, closed by `end_epoch`: validation, selection, early stop) and then `finish`,
which scores test once; the functions after them are the pieces they call."""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import math
import time

import torch
from tqdm.auto import tqdm

from recbce import runs
from recbce.config import Config, with_absolute_data_paths
from recbce.data.dataset import load_dataset, require_heldout
from recbce.data.history import scoring_inputs
from recbce.data.sampling import SharedNegatives
from recbce.errors import Diverged
from recbce.evaluation.ranking import evaluate_split
from recbce.models import Batch, Popularity
from recbce.runs import plots, tracking
from recbce.runs.contents import METRICS_FILE, SUMMARY_FILE
from recbce.training import averaging, checkpoint, distributed, hold
from recbce.training.checkpoint import Interrupted, StopFlag
from recbce.training.state import Hooks, OnEvaluation, Training, prepare


def train(config: Config, overwrite: bool = False, resume: bool = False,
          progress: bool = True, log=print, on_evaluation: OnEvaluation | None = None,
          score_test: bool = True) -> dict | None:
    """Train the configured model, write the run folder, return the summary.

    Under torchrun every process runs this (see recbce.training.distributed): rank 0 alone
    writes, logs and evaluates, and the other ranks return None. Data paths are resolved
    against the current folder first: the run's config.yaml records where its data was.
    `on_evaluation(epoch, value)` sees eval.metric on validation after every evaluation and
    stops the run by returning True (a tuner's pruner); `score_test=False` leaves the test
    split unscored (a tuner's trials: test is scored once, for the trial validation picks).
    """
    config = with_absolute_data_paths(config)
    with distributed.session(config.train.device) as context:
        return train_on(context, config, overwrite, resume, progress, log,
                        Hooks(on_evaluation, score_test))


def train_on(context: distributed.Context, config: Config, overwrite: bool, resume: bool,
             progress: bool, log, hooks: Hooks | None = None) -> dict | None:
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    keep_freed_memory()
    distributed.check_supported(config, context)
    folder = hold.Hold(config, overwrite, resume)
    try:
        distributed.run_on_main(folder.before_load, context)
        dataset = load_dataset(config.data, config.seed)
        require_heldout(dataset, config.data.path)
        main = context.is_main
        run = prepare(config, dataset, context, log if main else _quiet, progress and main)
        run.hooks = hooks or Hooks()
        hold.open_run(run, folder)
        return supervise(run)
    finally:
        folder.release()


def supervise(run: Training) -> dict | None:
    """Train, then finish (rank 0); run.json says how it ended, whatever ended it."""
    hold.write_status(run, "running")
    run.clock = time.perf_counter() - run.state.seconds  # the run's time so far counts
    try:
        with StopFlag() as stop:
            train_epochs(run, stop)
        return finish(run)
    except Interrupted:
        raise
    except KeyboardInterrupt:  # Ctrl-C past the training loop: in the final evaluation
        hold.write_status(run, "interrupted", "in the final evaluation")
        raise Interrupted("interrupted in the final evaluation; the trained state is saved. Finish "
                          f"with: {hold.resume_command(run.context)} {run.run_dir}") from None
    except BaseException as err:
        hold.record_failure(run, err)
        raise


def train_epochs(run: Training, stop: StopFlag) -> None:
    config, context, state = run.config, run.context, run.state
    while not state.stopped and state.epoch <= config.train.epochs:
        if not train_epoch(run, stop):
            interrupt(run)
        # Every rank scores its share of the evaluation; rank 0 decides whether to stop.
        stop_early = distributed.broadcast(end_epoch(run), context)
        if context.is_main:
            runs.write_jsonl(run.run_dir / METRICS_FILE, state.epoch_log)
            tracking.log_epoch(config, state.epoch_log[-1])
        state.epoch, state.step, state.order, state.loss_sum = state.epoch + 1, 0, None, 0.0
        state.epoch_seconds, state.stopped = 0.0, stop_early
        save_checkpoint(run)
    if stop.requested:  # a signal during the last validation: honoured, not lost
        interrupt(run)


def interrupt(run: Training) -> None:
    save_checkpoint(run)
    state = run.state
    trained = state.stopped or state.epoch > run.config.train.epochs
    where = "after the last epoch" if trained else f"epoch {state.epoch}, step {state.step}"
    hold.write_status(run, "interrupted", where)
    raise Interrupted(f"interrupted {'' if trained else 'at '}{where}; checkpoint saved. "
                      f"{'Finish' if trained else 'Resume'} with: {hold.resume_command(run.context)} "
                      f"{run.run_dir}")


def keep_freed_memory(pad_bytes: int = 256 << 20) -> None:
    """Ask glibc to keep up to `pad_bytes` of freed heap instead of handing it back at once.

    A shared-pool step allocates and frees tens of MB of [B, P] temporaries; pages returned
    to the OS fault back in on the next step. 256 MB rather than 1 GB: as fast, with a lower
    peak (bench/results/train.md measures the pads against glibc's default). Not glibc: no-op.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(-2, pad_bytes)  # -2 is M_TOP_PAD in glibc's malloc.h


def save_checkpoint(run: Training) -> None:
    """Rank 0 writes it, with every rank's generator state, so each resumes its own stream."""
    run.state.seconds = time.perf_counter() - run.clock
    rank_generators = distributed.gather_generator_states(run.generator, run.context)
    if run.context.is_main:
        checkpoint.save(run.run_dir, run.model, run.optimizer, run.generator, run.state, rank_generators)


def _quiet(*args, **kwargs) -> None:
    """The log of ranks other than 0."""


def train_epoch(run: Training, stop: StopFlag) -> bool:
    """Run the epoch's remaining steps; False if a stop signal came first (on any rank)."""
    run.trainer.train()
    config, context, state, dataset = run.config, run.context, run.state, run.dataset
    ratio, batch_size, every = config.sampler.ratio, config.train.batch_size, config.train.checkpoint_every
    if state.order is None:
        state.order = distributed.shared_permutation(len(dataset.train), run.generator, context)
    batches = distributed.global_batches(state.order, batch_size, context)
    examples = len(state.order) * (1 + ratio)
    carried, started = state.epoch_seconds, time.perf_counter()  # an interrupted epoch's time counts
    with tqdm(total=examples, initial=state.step * batch_size * (1 + ratio), unit="ex",
              unit_scale=True, desc=f"epoch {state.epoch}/{config.train.epochs}",
              disable=not run.show_progress, leave=False) as bar:
        for pairs in batches[state.step:]:
            mine = distributed.local_part(pairs, context)
            batch, valid = next_batch(run, mine)
            share = distributed.share_of_loss(run.loss_fn, len(mine), len(pairs), context)
            loss = train_step(run, batch, valid, share)
            loss, stop_requested = distributed.agree(loss, stop.requested, context)
            if not math.isfinite(loss):
                raise Diverged(f"the training loss became {loss} at epoch {state.epoch}, step "
                               f"{state.step + 1}: lower train.lr or model.init_std")
            state.loss_sum += loss * len(pairs)
            state.step += 1
            bar.update(len(pairs) * (1 + ratio))
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            state.epoch_seconds = carried + time.perf_counter() - started
            if stop_requested:
                return False
            if every and state.step % every == 0 and state.step < len(batches):
                save_checkpoint(run)
    seconds = carried + time.perf_counter() - started
    state.epoch_log.append({
        "epoch": state.epoch,
        "loss": state.loss_sum / len(state.order),
        "seconds": round(seconds, 3),
        "examples_per_s": round(examples / seconds, 1),
    })
    return True


def next_batch(run: Training, pairs: torch.Tensor) -> tuple[Batch, torch.Tensor | None]:
    """The model's input for training pairs (their indices) and the mask of usable per-row
    negatives (None: all usable), on the model's device. Sampling stays on the CPU."""
    users, items = run.dataset.train.users[pairs], run.dataset.train.items[pairs]
    negatives = run.sampler.sample(users, items, run.config.sampler.ratio, run.generator)
    history = run.history.batch(pairs, users, run.generator)
    if isinstance(negatives, SharedNegatives):
        batch, valid = Batch(users, items, pool=negatives.pool, mask=negatives.mask, history=history), None
    else:
        batch, valid = Batch(users, items, negatives=negatives.items, history=history), negatives.valid
    return to_device(run.context.device, batch, valid)


def to_device(device: torch.device, batch: Batch, valid: torch.Tensor | None):
    if device.type == "cpu":
        return batch, valid
    moved = {f.name: None if getattr(batch, f.name) is None else getattr(batch, f.name).to(device)
             for f in dataclasses.fields(batch)}
    return Batch(**moved), None if valid is None else valid.to(device)


def train_step(run: Training, batch: Batch, valid: torch.Tensor | None = None, loss_fn=None) -> float:
    """One gradient step on a batch of positives and their negatives; returns the loss.
    `valid` [B, k]: per-row negatives that count (the rest score −inf, which costs nothing)."""
    config, sampler = run.config, run.sampler
    pos, neg = run.trainer(batch)
    if valid is not None:
        neg = torch.where(valid, neg, -torch.inf)  # half masked_fill's time
    # A shared pool is one row of items for the whole batch: its log-Q correction and its
    # L2 term are taken once, not once per row that scores it.
    if config.loss.logq:
        pos = pos - sampler.log_prob(batch.items)
        neg = neg - sampler.log_prob(batch.negative_items)
    loss = (loss_fn or run.loss_fn)(pos, neg)
    if config.loss.l2:
        loss = loss + config.loss.l2 * batch_l2(run.trainer, batch)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return loss.item()


def batch_l2(model, batch: Batch) -> torch.Tensor:
    """Squared norm of the embeddings this batch uses, per positive (BPR/LightGCN convention).

    A shared pool's items count once per batch, not once per row that scores them."""
    used = [rows.pow(2).sum() for rows in model.batch_embeddings(batch)]
    total = used[0]
    for part in used[1:]:
        total = total + part
    return total / len(batch.users)


def end_epoch(run: Training) -> bool:
    """Average if due, evaluate if due, keep the best model; True when early stopping says stop.
    Under torchrun every rank scores its share of the evaluation; rank 0 keeps the rest."""
    config, dataset, state, log, context = run.config, run.dataset, run.state, run.log, run.context
    every, record = config.train.eval_every, state.epoch_log[-1]
    averaging_now = bool(config.train.average_from) and state.epoch >= config.train.average_from
    if averaging_now and context.is_main:
        state.average, state.averaged_epochs = averaging.update(state.average, state.averaged_epochs,
                                                                run.model)
    if not every or (state.epoch % every and state.epoch != config.train.epochs):
        return False
    model = averaging.averaged(run.model, state.average)  # what is evaluated, selected and saved
    if averaging_now:  # only rank 0 keeps the average
        model = distributed.same_model(model, context)
    split = "valid" if dataset.valid is not None else "test"
    scores = evaluate_split(on_cpu(model), dataset, split, config.eval, seed=config.seed,
                            share=distributed.evaluation_share(context))
    if not context.is_main:
        return False
    record.update({f"{split}/{name}": value for name, value in scores.items()})
    metric = scores.get(config.eval.metric)
    error = scores.get(f"{config.eval.metric}_se")
    log(f"epoch {state.epoch}: loss {record['loss']:.4f}, {record['examples_per_s']:,.0f} ex/s, "
        f"{split} {config.eval.metric} {metric:.4f}"
        + ("" if error is None else f" ±{error:.4f} ({config.eval.valid_users:,} sampled users)"))
    if split != "valid":
        return False
    stop_asked = run.hooks.on_evaluation is not None and run.hooks.on_evaluation(state.epoch, metric)
    if state.best_metric is None or metric > state.best_metric:
        state.best_metric, state.best_epoch = metric, state.epoch
        state.best_state = copy.deepcopy(model.state_dict())
        state.evals_without_gain = 0
        return stop_asked
    state.evals_without_gain += 1
    if stop_asked:
        return True
    patience = config.train.patience
    if patience and state.evals_without_gain >= patience:
        log(f"early stop: no {config.eval.metric} gain for {patience} evaluations; "
            f"best epoch {state.best_epoch}")
        return True
    return False


def finish(run: Training) -> dict:
    """Keep the best validated model, write model, summary and status; return the summary
    (rank 0; the other ranks score their share of test and return None)."""
    config, dataset, state, run_dir, context = run.config, run.dataset, run.state, run.run_dir, run.context
    kept = state.best_state if state.best_state is not None else state.average  # no validation: the mean
    model = run.model
    if kept is not None:  # rank 0's: the others receive it
        model.load_state_dict(kept)
    model = distributed.same_model(model.cpu().eval(), context)  # evaluated where the data index lives
    tests = final_test(run, model) if run.hooks.score_test else None
    if not context.is_main:
        return None
    folder = runs.RunFolder(run_dir)
    folder.save_model(model, dataset.user_ids, dataset.item_ids)
    runs.save_inference(run_dir, dataset, scoring_inputs(dataset, config.model))
    summary = {
        "run_dir": str(run_dir),
        "epochs": len(state.epoch_log),
        "best_epoch": state.best_epoch,
        "train_seconds": round(state.seconds, 3),  # as of the last checkpoint, every session summed
        "best_valid": state.best_metric,
        "stopped": state.stopped,  # early (patience or a tuner's pruner): a resume has nothing to train
    }
    if tests is not None:
        summary["test"], summary["popularity"] = tests
    summary["curves"] = plots.save_training_curves(run_dir)
    runs.write_json(run_dir / SUMMARY_FILE, summary)
    folder.mark("finished")
    return summary


def final_test(run: Training, model) -> tuple[dict, dict] | None:
    """(the model's test metrics, the popularity baseline's), scored once, on rank 0 (None on
    the others, which score their share)."""
    config, dataset, share = run.config, run.dataset, distributed.evaluation_share(run.context)
    test = evaluate_split(model, dataset, "test", config.eval, seed=config.seed, share=share)
    popularity = evaluate_split(Popularity(dataset.item_counts()), dataset, "test", config.eval,
                                seed=config.seed, share=share)
    return None if test is None else (test, popularity)


def on_cpu(model: torch.nn.Module) -> torch.nn.Module:
    """The model, or a CPU copy of it when it trains on an accelerator: evaluation indexes
    CPU tensors (the held-out pairs), so it scores on the CPU."""
    if next(model.parameters()).device.type == "cpu":
        return model
    return copy.deepcopy(model).cpu()
