"""Fuzzing `recbce train` with configs and interaction files: it trains or says why in one line.

Every generated input must either train (one tiny epoch) with exit 0, or fail with a
one-line `error: ...` and exit 2: never a traceback, never a hang. The command runs
in-process (CliRunner) inside a fresh temporary folder, so whatever a fuzzed config
names is written there; SIGALRM bounds each run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from typing import Literal, get_args, get_origin

import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import Config
from recbce.data import synth
from tests.conftest import PRE_STARTER_MODEL

SECONDS_PER_RUN = 30
# FUZZ_N=1000 hunts with fresh random examples; the default replays a fixed set (no flakes).
FUZZ_N = os.environ.get("FUZZ_N")
FUZZ = settings(max_examples=int(FUZZ_N or 100), derandomize=FUZZ_N is None, deadline=None,
                database=None, suppress_health_check=list(HealthCheck))


def schema_fields(section: type[BaseModel] = Config, prefix: str = "") -> dict:
    """Every dotted key of the config schema (sections included) -> its annotation."""
    fields = {}
    for name, field in section.model_fields.items():
        fields[prefix + name] = field.annotation
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            fields.update(schema_fields(field.annotation, f"{prefix}{name}."))
    return fields


def plausible(annotation) -> st.SearchStrategy:
    """Values of the key's own type, mostly valid: so that fuzzed configs also train."""
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(0, 8)
    if annotation is float:
        return st.floats(0, 1)
    if get_origin(annotation) is Literal:
        return st.sampled_from(get_args(annotation))
    return st.nothing()


FIELDS = schema_fields()
KEYS = list(FIELDS) + ["nope", "train.nope", "data.columns.extra", "model.dim.x"]
# No '/' in generated text: a fuzzed path stays inside the temporary folder.
TEXT = st.text(st.characters(blacklist_characters="/\\", blacklist_categories=["Cs"]), max_size=6)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.sampled_from([2**63, -(2**63)]),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT,
                    st.sampled_from(["auto", "tsv", "adjacency", "parquet", "leave_one_out", "temporal",
                                     "predefined", "cosine", "in_batch", "popularity", "softmax",
                                     "sampled", "recall@10", "sgd", "1e-3", "nan", "..", "."]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3),
                   st.dictionaries(st.sampled_from(["a", "dim", "path"]), SCALARS, max_size=2))


def base_config(data_path: str) -> dict:
    return {"seed": 0, "run": {"dir": "runs", "name": "fuzz"},
            "data": {"path": data_path, "split": {"test_ratio": 0.2, "valid_ratio": 0.1}},
            "model": {"dim": 4, **PRE_STARTER_MODEL}, "sampler": {"kind": "uniform", "ratio": 4},
            "train": {"epochs": 1, "batch_size": 256, "patience": 0},
            "eval": {"k": [5], "metric": "ndcg@5"}}


def set_key(raw: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise TimeoutError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_train(raw_config, files: dict[str, bytes]):
    """`recbce train` on this config (a dict, or raw YAML bytes) in a fresh folder."""
    threads = torch.get_num_threads()  # a fuzzed train.threads must not leak into other tests
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder), time_limit(SECONDS_PER_RUN):
        for name, content in files.items():
            with open(name, "wb") as out:
                out.write(content)
        with open("config.yaml", "wb") as out:
            out.write(raw_config if isinstance(raw_config, bytes) else
                      yaml.safe_dump(raw_config, allow_unicode=True).encode())
        result = CliRunner().invoke(app, ["train", "-c", "config.yaml", "-q"])
    torch.set_num_threads(threads)
    return result


def assert_trained_or_one_line_error(result) -> None:
    event("trained" if result.exit_code == 0 else "refused")
    if result.exit_code == 0:
        assert "test metrics" in result.output, result.output
        return
    assert not isinstance(result.exception, TimeoutError), "hung"
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.exception!r}\n{result.output}"
    message = result.output.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    assert "Traceback" not in message


def tiny_log() -> bytes:
    frame = synth.generate(n_users=40, n_items=30, min_per_user=4, max_per_user=10, seed=2)
    return frame.to_csv(sep="\t", header=False, index=False).encode()


TINY_LOG = tiny_log()


@FUZZ
@given(keys=st.lists(st.sampled_from(KEYS), min_size=1, max_size=3), data=st.data())
def test_fuzzed_configs_train_or_fail_in_one_line(keys, data):
    raw = base_config("data.tsv")
    for key in keys:
        set_key(raw, key, data.draw(st.one_of(plausible(FIELDS.get(key)), VALUES), label=key))
    assert_trained_or_one_line_error(run_train(raw, {"data.tsv": TINY_LOG}))


@FUZZ
@given(text=st.binary(max_size=300))
def test_fuzzed_config_bytes_fail_in_one_line(text):
    assert_trained_or_one_line_error(run_train(text, {"data.tsv": TINY_LOG}))


TOKENS = st.one_of(st.integers(0, 6).map(str), st.sampled_from(["", "nan", "-1", "1.5", "x", "1e3", "\t",
                                                                 '"', "é", "9" * 25]))
ROWS = st.lists(st.lists(TOKENS, min_size=0, max_size=5), max_size=8)
NAMES = st.sampled_from(["data.tsv", "data.csv", "u.data", "ratings.dat", "ratings.csv", "log.txt",
                         "data.parquet"])
GOOD_LINES = TINY_LOG.decode().splitlines()


@FUZZ
@given(name=NAMES, content=st.binary(max_size=300),
       fmt=st.sampled_from(["auto", "tsv", "csv", "movielens", "adjacency", "parquet"]))
def test_fuzzed_file_bytes_fail_in_one_line(name, content, fmt):
    raw = base_config(name)
    raw["data"]["format"] = fmt
    assert_trained_or_one_line_error(run_train(raw, {name: content}))


@FUZZ
@given(name=NAMES, sep=st.sampled_from(["\t", ",", " ", "::", "|"]), good=st.integers(30, len(GOOD_LINES)),
       rows=ROWS, at=st.floats(0, 1),
       data=st.fixed_dictionaries({}, optional={
           "format": st.sampled_from(["auto", "tsv", "csv", "movielens", "adjacency"]),
           "header": st.booleans(), "min_rating": st.sampled_from([1, 3.5, 6]),
           "kcore": st.integers(0, 4), "columns": st.sampled_from([{"rating": 2}, {"timestamp": 5},
                                                                   {"user": 1, "item": 0}])}),
       split=st.sampled_from(["random", "leave_one_out", "temporal"]))
def test_fuzzed_interaction_rows_train_or_fail_in_one_line(name, sep, good, rows, at, data, split):
    """A real log's first `good` lines, in any separator, with random rows spliced in at `at`."""
    lines = [sep.join(line.split("\t")) for line in GOOD_LINES[:good]]
    lines[int(at * len(lines)):int(at * len(lines))] = [sep.join(r) for r in rows]
    raw = base_config(name)
    raw["data"].update({"format": "delimited", "sep": sep, **data})
    raw["data"]["split"]["method"] = split
    assert_trained_or_one_line_error(run_train(raw, {name: "".join(f"{x}\n" for x in lines).encode()}))


def test_the_fuzz_harness_sees_a_good_run_and_a_bad_one():
    assert run_train(base_config("data.tsv"), {"data.tsv": TINY_LOG}).exit_code == 0
    result = run_train(base_config("missing.tsv"), {})
    assert result.exit_code == 2 and "data file not found: " in result.output
    assert result.output.rstrip().endswith("/missing.tsv")  # the path made absolute
    assert os.getcwd() != "/"
