"""Several processes, one model: PyTorch's DistributedDataParallel under torchrun.

`torchrun --nproc_per_node=N -m recbce train --config C` starts N copies of the
same command. Each copy reads RANK / WORLD_SIZE / LOCAL_RANK from the
environment torchrun sets, joins a process group (gloo on CPU, nccl on GPU),
and trains on its slice of every global batch: the config's `batch_size` is the
global batch, split across ranks. DDP averages the gradients every step, so all
replicas stay identical. Every epoch has the same number of steps on every rank
(a last batch too small to give each rank an example is dropped), because a rank
with one step more would wait on gloo until its timeout.

Without torchrun (WORLD_SIZE unset or 1) every helper here is a no-op, and a run
is exactly the single-process one.
"""

from __future__ import annotations

import copy
import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from recbce.config import Config
from recbce.config.kinds import LOSS_KINDS
from recbce.errors import ConfigError
from recbce.evaluation.ranking import Share


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among `world_size` and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes the run folder, logs and shows progress."""
        return self.rank == 0


SINGLE = Context()  # one process, on the CPU


def resolve_device(setting: str, local_rank: int = 0) -> torch.device:
    """auto: CUDA if there is one; cuda: this node's GPU number `local_rank`."""
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError("train.device: cuda, but torch sees no CUDA device (use auto or cpu)")
    return torch.device("cuda", local_rank % torch.cuda.device_count())


@contextmanager
def session(device: str = "auto", env=None) -> Iterator[Context]:
    """Join the torchrun process group for the duration of a run, and leave it cleanly.

    On a normal exit the caller's model and optimiser are already out of scope:
    they are collected, every rank meets at a barrier, then the group is
    destroyed. Skipping that ordering made a rank abort at exit under gloo
    ("terminate called without an active exception"). After an error the
    barrier is skipped: the other ranks may be blocked in a collective, and
    torchrun stops them once this process exits. A group the caller joined
    before (a script training several runs in one launch) is used and left to
    it: joining again on torchrun's store after leaving can meet the last
    group's addresses there.
    """
    env = os.environ if env is None else env
    rank, world = int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1))
    local_rank = int(env.get("LOCAL_RANK", 0))
    context = Context(rank, world, local_rank, resolve_device(device, local_rank))
    if not context.distributed:
        yield context
        return
    if context.device.type == "cuda":
        torch.cuda.set_device(context.device)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if context.device.type == "cuda" else "gloo")
    try:
        yield context
    except BaseException:
        if owned:
            dist.destroy_process_group()
        raise
    gc.collect()
    dist.barrier()
    if owned:
        dist.destroy_process_group()


class Replicated(DistributedDataParallel):
    """DDP that otherwise reads like the model it wraps: its attributes (`.user`, `.score_all`)
    and its state_dict keys, so checkpoints are the same with or without it."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


def replicate(model: torch.nn.Module, context: Context) -> torch.nn.Module:
    """The model wrapped for gradient averaging, or itself in a single process.

    Sparse embedding gradients go through DDP as sparse tensors (gloo supports
    sparse all-reduce), each all-reduced to the end before autograd goes on
    (`average_before_going_on`); rank 0's initial weights are broadcast to the others here.
    """
    if not context.distributed:
        return model
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    replicated = Replicated(model, device_ids=device_ids)
    replicated.register_comm_hook(None, average_before_going_on)
    return replicated


def average_before_going_on(state, bucket):  # no annotations: DDP checks them as objects
    """DDP communication hook: the bucket's gradient averaged over the ranks, the all-reduce
    finished before autograd goes on.

    DDP's own hook leaves the all-reduce of a sparse gradient running on gloo's thread, in
    place on the gradient, while autograd goes on; on CPU that overlap corrupted the heap now
    and then (a rank aborted in malloc; docs/results.md, "Two ranks that crashed now and then").
    Dividing by the world size and then summing is what DDP's own hook computes, bit for bit."""
    gradient = bucket.buffer()
    gradient.div_(dist.get_world_size())
    dist.all_reduce(gradient)
    done = torch.futures.Future()
    done.set_result(gradient)
    return done


def check_supported(config: Config, context: Context) -> None:
    """Settings a distributed run cannot honour, refused before any process trains."""
    if not context.distributed:
        return
    if config.train.batch_size < context.world_size:
        raise ConfigError(f"train.batch_size {config.train.batch_size} is smaller than the "
                          f"{context.world_size} processes: each needs at least one example per step")
    why = LOSS_KINDS[config.loss.name].distributed
    if why:
        raise ConfigError(f"loss.name {config.loss.name} is not supported under torchrun: {why}")


def global_batches(order: torch.Tensor, batch_size: int, context: Context) -> list[torch.Tensor]:
    """The epoch's batches of the config's (global) size; the same list on every rank."""
    batches = list(order.split(batch_size))
    if context.distributed and len(batches[-1]) < context.world_size:
        batches.pop()  # some rank would get no example: dropped, so every rank takes every step
    return batches


def local_part(batch: torch.Tensor, context: Context) -> torch.Tensor:
    """This rank's slice of a global batch (sizes differ by at most one across ranks)."""
    if not context.distributed:
        return batch
    return batch.tensor_split(context.world_size)[context.rank]


def shared_permutation(n: int, generator: torch.Generator, context: Context) -> torch.Tensor:
    """The epoch's order of the training pairs: drawn by rank 0 from its stream (exactly as a
    single process draws it) and sent to the others, so all ranks shard the same order."""
    if context.is_main:
        order = torch.randperm(n, generator=generator)
    else:
        order = torch.empty(n, dtype=torch.int64)
    if not context.distributed:
        return order
    on_device = order.to(context.device)  # nccl moves only accelerator tensors
    dist.broadcast(on_device, src=0)
    return on_device.cpu()


def share_of_loss(loss_fn, local_size: int, global_size: int, context: Context):
    """`loss_fn` weighted so that DDP's average of the ranks' gradients is the gradient of the
    mean over the whole global batch, also when the ranks' slices differ by one example
    (every loss is a mean over its positives)."""
    if not context.distributed or local_size * context.world_size == global_size:
        return loss_fn
    weight = local_size * context.world_size / global_size
    return lambda pos, neg: loss_fn(pos, neg) * weight


def agree(loss: float, stop: bool, context: Context) -> tuple[float, bool]:
    """The mean loss over ranks, and whether any rank was asked to stop: one all-reduce, so
    all ranks log the same loss and leave the epoch at the same step."""
    if not context.distributed:
        return loss, stop
    values = torch.tensor([loss, float(stop)], dtype=torch.float64, device=context.device)
    dist.all_reduce(values)
    return float(values[0]) / context.world_size, bool(values[1] > 0)


def broadcast(value, context: Context):
    """Rank 0's value (any picklable object) on every rank; the others wait for it."""
    if not context.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def gather_generator_states(generator: torch.Generator, context: Context) -> list | None:
    """Every rank's generator state, on rank 0 (None elsewhere and in a single process)."""
    if not context.distributed:
        return None
    states = [None] * context.world_size if context.is_main else None
    dist.gather_object(generator.get_state(), states, dst=0)
    return states


def evaluation_share(context: Context) -> Share | None:
    """This rank's part of a shared evaluation (recbce.evaluation.ranking.Share); None alone."""
    if not context.distributed:
        return None

    def gather(value):
        parts = [None] * context.world_size if context.is_main else None
        dist.gather_object(value, parts, dst=0)
        return parts

    return Share(context.rank, context.world_size, gather)


def same_model(model: torch.nn.Module, context: Context) -> torch.nn.Module:
    """Rank 0's `model` on every rank: the others get a copy of theirs holding its parameters
    (an averaged or selected model, which only rank 0 keeps)."""
    if not context.distributed:
        return model
    state = broadcast(model.state_dict() if context.is_main else None, context)
    if context.is_main:
        return model
    copied = copy.deepcopy(model)
    copied.load_state_dict(state)
    return copied


def run_on_main(action, context: Context):
    """Run `action()` on rank 0 only; every rank then returns its result or raises its error,
    so a refused run folder stops all ranks instead of leaving them at a barrier."""
    outcome = (None, None)
    if context.is_main:
        try:
            outcome = (action(), None)
        except Exception as err:  # passed to the other ranks, then raised everywhere
            outcome = (None, err)
    result, error = broadcast(outcome, context)
    if error is not None:
        raise error
    return result
