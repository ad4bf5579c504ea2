"""`recbce init`: a commented starter config (it validates).

Its recipe did best on ml-100k and Gowalla with no per-data-set tuning (docs/results.md,
"The starter recipe"): sigmoid BCE over a shared pool, cosine scores with an item bias
started at the loss's prior, the user history mix. It is also what a config that leaves the
keys out gets (recbce.config's defaults), so the keys whose default depends on other keys are
shown commented out: edit the loss or the model kind and they follow."""

from __future__ import annotations

import json
from pathlib import Path

from recbce import runs, yaml_loader
from recbce.config import validate
from recbce.errors import RunError

STARTER = """\
# A recbce config. Every key is checked when read; see `recbce config show --config THIS`
# for the resolved file with all defaults, `recbce config validate THIS` to check it.
# Every key left out takes the value shown here; a commented key's default follows others.
seed: 0                       # same seed + data + config: identical metrics
run:
  dir: runs                   # outputs go to <dir>/<name>/
  name: my-first-run
data:
  path: data/quickstart.tsv   # user item [rating] [timestamp], one interaction a line
  format: auto                # auto | tsv | csv | delimited | movielens | adjacency | parquet
  min_rating: null            # explicit ratings: keep those >= this as positives
  kcore: 0                    # keep users/items with >= kcore interactions (0: all)
  split:
    method: random            # random | leave_one_out | temporal | predefined
    test_ratio: 0.2
    valid_ratio: 0.1          # picks the best epoch and drives early stopping
model:
  dim: 64                     # embedding size of p_u and q_v
  bias: true                  # adds an item bias b_v
  # bias_init: prior          # b_v starts where the sigmoid loss has no gradient (−log k);
                              # left out: prior for loss bce/gbce with bias true, else 0.0
  scorer: cosine              # dot | cosine: cos(p_u, q_v) / temperature (+ b_v)
  temperature: 0.1
  # history: 0.5              # p_u mixes in the mean of the user's items' vectors (SimpleX);
                              # left out: 0.5 for kind mf, 0 for lightgcn
sampler:
  kind: shared                # shared (one pool per batch) | uniform | popularity | in_batch
  # ratio: 256                # negatives per positive: the pool's size for shared; left out:
                              # 256 (every item if fewer) for shared, 4 for the others
  exclude_positives: true     # never score a user's own training items as negatives
loss:
  name: bce                   # bce | gbce | bpr | softmax | decoupled_softmax | ccl | bce_pos_only
  l2: 0.0                     # penalty on the batch's embeddings
train:
  epochs: 20
  batch_size: 1024
  optimizer: row_adam         # row_adam | adam | sparse_adam | sgd | adagrad
  lr: 0.01
  # patience: 3               # stop after this many evaluations without gain (0: never);
                              # left out: 3 when the run validates, else 0
eval:
  k: [10, 20]
  metric: ndcg@20             # selects the best epoch, e.g. recall@20
logging:
  tensorboard: false          # true: <run>/tensorboard event files (pip install 'recbce[tensorboard]')
"""


STARTER_DATA = """\
  path: data/quickstart.tsv   # user item [rating] [timestamp], one interaction a line
  format: auto                # auto | tsv | csv | delimited | movielens | adjacency | parquet
"""


def data_starter(data: Path) -> tuple[str, list[str]]:
    """The starter config with the data section that reads `data` (recbce.data.survey), and
    what was decided, one line each."""
    from recbce.data.survey import survey

    found = survey(data)
    config = found.config
    lines = [f"  path: {json.dumps(str(data))}   # {found.rows:,} rows, {found.users:,} users, "
             f"{found.items:,} items (recbce init --data)",
             f"  format: {config.format}  # auto | tsv | csv | delimited | movielens | adjacency | parquet"]
    if config.sep is not None:
        lines.append(f"  sep: {json.dumps(config.sep)}")
    lines.append(f"  header: {json.dumps(config.header)}  # auto: decided from the first lines")
    if config.columns.model_fields_set:
        written = {f: getattr(config.columns, f) for f in config.columns.model_dump()
                   if f in config.columns.model_fields_set}
        lines.append(f"  columns: {json.dumps(written)}  # by name with a header, else by position")
    if config.ids == "text":
        lines.append("  ids: text  # every id as written: some are numbers, some are not")
    text = STARTER.replace(STARTER_DATA, "\n".join(lines) + "\n")
    validate(yaml_loader.load(text), source="recbce init --data")  # written only if it reads back
    return text, found.notes


def write_starter(path: Path, overwrite: bool = False, text: str = STARTER) -> Path:
    """Write `text` (the starter config, or data_starter's) to `path`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise RunError(f"{path} exists: pass --force to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot write {path}: {err.strerror or err}") from None
    runs.write_text(path, text)
    return path
