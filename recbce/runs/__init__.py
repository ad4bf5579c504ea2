"""Run folders and what is written in them: atomic files, the run folder, the registry of runs,
plots and trackers. `from recbce import runs` gives the atomic writers and `runs.RunFolder`,
through which a run's files are read and written."""

from recbce.runs.contents import MODEL_FILE  # noqa: F401
from recbce.runs.files import (  # noqa: F401
    save_torch,
    write_bytes,
    write_json,
    write_jsonl,
    write_parquet,
    write_text,
)
from recbce.runs.folder import RunFolder  # noqa: F401
from recbce.runs.inference import INFERENCE_FILE, save_inference  # noqa: F401
