"""A run folder's contents, named once. Each is written atomically (recbce.runs.files).

- config.yaml: the config as the run read its data (recbce.runs.folder)
- run.json: its status, with recbce's marker (recbce.runs.status)
- data.json: the data files' fingerprints (recbce.runs.folder)
- metrics.jsonl: one line per epoch (recbce.training.loop)
- checkpoint.pt: while it may resume (recbce.training.checkpoint)
- model.pt: a plain dict, loadable with weights_only=True (recbce.runs.folder)
- inference.pt: what serving reads (recbce.runs.inference)
- summary.json: the finished run's figures (recbce.training.loop)
- curves.png: its learning curves (recbce.runs.plots)
- eval-<split>.json, reliability-<split>.png: `recbce evaluate` (recbce.evaluation.ranking)
- tensorboard/: with logging.tensorboard (recbce.runs.tracking)
- .recbce.lock: while a process holds the folder (recbce.runs.lock)
"""

CONFIG_FILE = "config.yaml"
STATUS_FILE = "run.json"
DATA_FILE = "data.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
MODEL_FILE = "model.pt"
INFERENCE_FILE = "inference.pt"
SUMMARY_FILE = "summary.json"
CURVES_FILE = "curves.png"
LOCK_FILE = ".recbce.lock"
EVALUATION_FILE = "eval-{split}.json"
RELIABILITY_FILE = "reliability-{split}.png"

# Everything a run folder can hold that recbce wrote (training, evaluate, the API): what
# --overwrite removes (recbce.runs.claim), and nothing else.
RUN_FILES = (CONFIG_FILE, STATUS_FILE, DATA_FILE, METRICS_FILE, CHECKPOINT_FILE, MODEL_FILE,
             INFERENCE_FILE, SUMMARY_FILE, CURVES_FILE)
RUN_PATTERNS = (EVALUATION_FILE.format(split="*"), RELIABILITY_FILE.format(split="*"),
                ".*.tmp")  # .*.tmp: recbce.runs.files
RUN_FOLDERS = ("tensorboard",)
