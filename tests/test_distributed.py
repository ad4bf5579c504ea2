"""Distributed training: 2 processes under torchrun, gloo on 127.0.0.1, against one process.

The launched runs use a tiny planted-taste data set and one thread per process;
each launch has a timeout and its whole process group is killed on expiry, so a
hang fails the test instead of blocking CI.
"""

import json
import os
import signal
import socket
import subprocess
import sys

import pandas as pd
import pytest
import torch
import torch.distributed as dist
import yaml

from recbce.config import load_config
from recbce.data import synth
from recbce.errors import ConfigError, RunError
from recbce.evaluation.ranking import evaluate_run
from recbce.training import checkpoint, distributed
from recbce.training.distributed import Context
from recbce.training.loop import train
from tests.conftest import PRE_STARTER_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_TIMEOUT = 150

# Runs in every rank: trains each config given through the library in a process group of its
# own (one launch for several runs: a launch costs three processes' start) and, after each
# checkpoint, writes this rank's parameters to <dumps>/<run name>/, so the test can compare
# the replicas.
SPY = """
import sys, torch
import torch.distributed as dist
from pathlib import Path
from recbce.training import loop as training
from recbce.config import load_config

save = training.save_checkpoint
def save_and_dump(run):
    save(run)
    torch.save(run.model.state_dict(), Path(sys.argv[1]) / run.config.run.name / f"rank{run.context.rank}.pt")
training.save_checkpoint = save_and_dump
dist.init_process_group("gloo")  # the script's group: every run of the launch uses it
for path in sys.argv[2:]:
    config = load_config(path)
    (Path(sys.argv[1]) / config.run.name).mkdir(exist_ok=True)
    training.train(config, progress=False)
dist.barrier()
dist.destroy_process_group()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun(*args: str, cwd) -> subprocess.CompletedProcess:
    done = launch(*args, cwd=cwd)
    if done.returncode and "address already in use" in done.stderr.lower():
        done = launch(*args, cwd=cwd)  # another job took the free port first: once more, on a new one
    return done


def launch(*args: str, cwd) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), *args]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"torchrun did not finish in {LAUNCH_TIMEOUT} s:\n{err[-2000:]}")
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def report(done: subprocess.CompletedProcess) -> str:
    # The whole stderr: a rank that aborts prints its reason first, and torchrun's summary
    # after it would push that out of a tail (a rank's abort in malloc was diagnosed so).
    return f"torchrun exited {done.returncode}; its stderr:\n{done.stderr}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    path = tmp_path_factory.mktemp("dist")
    synth.generate(n_users=300, n_items=150, min_per_user=8, max_per_user=30, seed=3).to_csv(
        path / "data.tsv", sep="\t", header=False, index=False)
    return path


def write_config(workdir, name: str, epochs: int = 2, **sections) -> str:
    raw = {"run": {"dir": str(workdir / "runs"), "name": name},
           "data": {"path": str(workdir / "data.tsv"), "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
           "model": {"dim": 16, **PRE_STARTER_MODEL}, "sampler": {"kind": "uniform", "ratio": 4},
           "train": {"epochs": epochs, "batch_size": 64, "lr": 0.01, "threads": 1, "device": "cpu",
                     "patience": 0}}
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


# The shared 2-rank run (and its one-process and resumed twins): 3 epochs, validated every epoch
# on a sample of users, the weights averaged from epoch 2, so that one launch covers the
# replicas, the shared evaluation of rank 0's average and the sampled validation
TWO = {"epochs": 3, "train": {"average_from": 2, "eval_every": 1},
       "eval": {"valid_users": 25, "batch_users": 16}}


# The other runs of the same launch: the shipped best variant's path (one forward returning
# (pos, neg [B, P]), the pool's and the history sample's rows in one sparse gradient, averaged
# across the ranks); LightGCN (every rank propagates the whole graph; DDP averages the dense
# table gradients and the item biases' sparse ones); the first epoch of a run to resume.
SHARED = {"model": {"scorer": "cosine", "temperature": 0.1, "history": 0.5, "history_sample": 4},
          "sampler": {"kind": "shared", "ratio": 32}, "loss": {"name": "decoupled_softmax"},
          "train": {"optimizer": "row_adam"}}
LIGHTGCN = {"model": {"kind": "lightgcn", "layers": 2}, "sampler": {"kind": "shared", "ratio": 32},
            "loss": {"name": "softmax"}}


@pytest.fixture(scope="module")
def launched(workdir):
    """One 2-process launch of four runs, each rank's parameters dumped after every checkpoint."""
    (workdir / "spy.py").write_text(SPY)
    dumps = workdir / "dumps"
    dumps.mkdir()
    configs = [write_config(workdir, "two", **TWO), write_config(workdir, "shared", **SHARED),
               write_config(workdir, "lightgcn", **LIGHTGCN),
               write_config(workdir, "resumed", **{**TWO, "epochs": 1})]
    done = torchrun(str(workdir / "spy.py"), str(dumps), *configs, cwd=workdir)
    assert done.returncode == 0, report(done)
    return dumps


@pytest.fixture(scope="module")
def two_ranks(workdir, launched):
    """The 2-process run of 3 epochs (TWO): its folder and its ranks' final parameters."""
    return workdir / "runs" / "two", launched / "two"


def replicas(dumps):
    return torch.load(dumps / "rank0.pt"), torch.load(dumps / "rank1.pt")


def summary(run_dir) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def test_replicas_hold_identical_parameters(two_ranks):
    run_dir, dumps = two_ranks
    rank0, rank1 = replicas(dumps)
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert len(saved["rank_generators"]) == 2
    assert not torch.equal(saved["rank_generators"][0], saved["rank_generators"][1])


def test_shared_pool_with_user_history_keeps_replicas_identical(workdir, launched):
    rank0, rank1 = replicas(launched / "shared")
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    run_dir = workdir / "runs" / "shared"
    losses = [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_lightgcn_keeps_replicas_identical(workdir, launched):
    # The model's graph and scoring cache are not parameters.
    rank0, rank1 = replicas(launched / "lightgcn")
    assert set(rank0) == {"user.weight", "item.weight", "item_bias.weight"}
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    run_dir = workdir / "runs" / "lightgcn"
    losses = [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and losses[1] < losses[0]
    assert summary(run_dir)["test"]["recall@20"] > summary(run_dir)["popularity"]["recall@20"]


def test_metrics_match_one_process_with_the_same_global_batch(two_ranks, workdir):
    """Same data, split, initial weights (rank 0's, broadcast) and global batches (64 pairs,
    32 per rank); what differs is the negatives: rank 1 draws its 32 rows' negatives from
    its own stream, where one process draws all 64 from a single stream. That is a change
    of random draws, as between two sampler seeds, so the epoch losses agree to 1% and each
    test ranking metric to within 3 standard errors of a difference of two means over this
    test set's users (measured from the single run's per-user values: about 0.018 for
    recall@20 here, so the bound is near 0.08; a real bug, e.g. unsynchronised gradients
    or a rank training on the wrong shard, moves the metrics far more)."""
    run_dir, _ = two_ranks
    single = train(load_config(write_config(workdir, "one", **TWO)), progress=False)
    multi = summary(run_dir)
    per_user = workdir / "per-user.csv"
    evaluate_run(workdir / "runs" / "one", "test", None, per_user)
    spread = pd.read_csv(per_user)
    for metric in ("ndcg@20", "recall@20", "hr@10"):
        standard_error = spread[metric].std() / len(spread) ** 0.5
        bound = 3 * 2**0.5 * standard_error
        assert abs(multi["test"][metric] - single["test"][metric]) < bound, (metric, bound)
    assert multi["popularity"] == single["popularity"]  # same data, same split
    losses = [[json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()]
              for run in (run_dir, workdir / "runs" / "one")]
    assert len(losses[0]) == len(losses[1]) == TWO["epochs"]
    for two, one in zip(*losses, strict=True):
        assert abs(two - one) / one < 0.01


def test_the_evaluation_shared_by_the_ranks_is_one_process_s_bit_for_bit(two_ranks, workdir):
    """Each rank scored every other block of test users and rank 0 gathered them: the same
    metrics, to the last bit, as one process scoring the saved model alone."""
    run_dir, _ = two_ranks
    alone = evaluate_run(run_dir, "test", None, None, log=lambda *_: None)
    assert alone == summary(run_dir)["test"]


def test_a_shared_evaluation_of_an_averaged_model_on_sampled_validation_users(two_ranks):
    """Only rank 0 keeps the weight average: the other rank must score that model, not its own
    last weights; validation on a sample of users reports its standard error."""
    run_dir, _ = two_ranks
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == TWO["epochs"] and all(record["valid/ndcg@20_se"] > 0 for record in records)
    valid = evaluate_run(run_dir, "valid", None, None, log=lambda *_: None)  # the saved (best) model
    assert valid["ndcg@20"] == max(record["valid/ndcg@20"] for record in records)


def test_resume_under_torchrun_continues_each_rank_exactly(two_ranks, workdir):
    """One epoch in the shared launch, then resumed for the rest through the real CLI: the result
    must be bit-identical to the uninterrupted run, which needs every rank's generator back."""
    run_dir = workdir / "runs" / "resumed"
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    resolved["train"]["epochs"] = TWO["epochs"]
    (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved))
    done = torchrun("-m", "recbce", "train", "--resume", str(run_dir), "--quiet", cwd=workdir)
    assert done.returncode == 0, report(done)
    assert done.stdout.count("test metrics") == 1  # rank 0 alone prints
    assert summary(run_dir)["test"] == summary(two_ranks[0])["test"]
    with pytest.raises(RunError, match="nproc_per_node=2"):  # one process cannot take it over
        train(load_config(run_dir / "config.yaml"), resume=True, progress=False)


def test_uneven_slices_are_weighted_to_the_global_mean():
    def mean(pos, neg):
        return pos.mean()

    two = Context(rank=0, world_size=2)
    assert distributed.share_of_loss(mean, 32, 64, two) is mean
    pos = torch.ones(3)
    assert float(distributed.share_of_loss(mean, 3, 5, two)(pos, None)) == pytest.approx(6 / 5)
    assert distributed.share_of_loss(mean, 3, 5, Context()) is mean


def test_global_batches_give_every_rank_the_same_step_count():
    two = Context(rank=1, world_size=2)
    batches = distributed.global_batches(torch.arange(129), 64, two)
    assert [len(b) for b in batches] == [64, 64]  # the lone 129th pair is dropped
    assert [len(b) for b in distributed.global_batches(torch.arange(130), 64, two)] == [64, 64, 2]
    assert [len(b) for b in distributed.global_batches(torch.arange(129), 64, Context())] == [64, 64, 1]
    batch = torch.arange(7)
    parts = [distributed.local_part(batch, Context(rank=r, world_size=3)) for r in range(3)]
    assert torch.equal(torch.cat(parts), batch) and [len(p) for p in parts] == [3, 2, 2]
    assert distributed.local_part(batch, Context()) is batch


def test_gradients_are_averaged_before_backward_goes_on(tmp_path):
    """DDP's own hook left a sparse gradient's all-reduce running on gloo's thread while
    autograd went on, and ranks crashed now and then: recbce's hook returns it finished."""
    class Bucket:
        def __init__(self, gradient):
            self.gradient = gradient

        def buffer(self):
            return self.gradient

    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        gradient = torch.sparse_coo_tensor([[0, 2, 0]], torch.tensor([[1.0], [2.0], [3.0]]), (4, 1),
                                           check_invariants=True)
        done = distributed.average_before_going_on(None, Bucket(gradient))
        assert done.done()
        assert torch.equal(done.value().to_dense(), torch.tensor([[4.0], [0.0], [2.0], [0.0]]))
    finally:
        dist.destroy_process_group()


def test_single_process_helpers_are_no_ops():
    alone = Context()
    assert distributed.agree(1.5, True, alone) == (1.5, True)
    assert distributed.broadcast({"a": 1}, alone) == {"a": 1}
    assert distributed.gather_generator_states(torch.Generator(), alone) is None
    model = torch.nn.Linear(2, 2)
    assert distributed.replicate(model, alone) is model
    with distributed.session("cpu", env={}) as context:
        assert context == Context()


def test_device_setting():
    assert distributed.resolve_device("cpu") == torch.device("cpu")
    assert distributed.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="train.device"):
            distributed.resolve_device("cuda")


def test_settings_a_distributed_run_cannot_honour_are_refused(make_config):
    two = Context(world_size=2)
    with pytest.raises(ConfigError, match="batch_size 1 is smaller than the 2 processes"):
        distributed.check_supported(load_config(make_config(train={"batch_size": 1})), two)
    positives_only = load_config(make_config(loss={"name": "bce_pos_only"}, sampler={"ratio": 0}))
    with pytest.raises(ConfigError, match="bce_pos_only"):
        distributed.check_supported(positives_only, two)
    distributed.check_supported(positives_only, Context())  # fine in one process
    with pytest.raises(ConfigError, match="train.device"):
        load_config(make_config(train={"device": "tpu"}))


def test_checkpoint_from_one_process_refuses_a_distributed_resume(tmp_path):
    model, generator = torch.nn.Linear(2, 2), torch.Generator()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    checkpoint.save(tmp_path, model, optimizer, generator, checkpoint.Progress())
    with pytest.raises(RunError, match="written by 1 process"):
        checkpoint.load(tmp_path, model, optimizer, generator, rank=1, world_size=2)
