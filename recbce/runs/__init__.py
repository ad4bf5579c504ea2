"""Run folders and what is written in them: atomic files, the run folder, the registry of runs,
plots and trackers. `from recbce import runs` gives the atomic writers and the folder helpers."""

from recbce.runs.claim import check_claimable, claim, reclaim  # noqa: F401
from recbce.runs.files import (  # noqa: F401
    save_torch,
    write_bytes,
    write_json,
    write_jsonl,
    write_parquet,
    write_text,
)
from recbce.runs.folder import MODEL_FILE, load_run, save_model, write_config  # noqa: F401
from recbce.runs.inference import INFERENCE_FILE, save_inference  # noqa: F401
from recbce.runs.status import write_status  # noqa: F401
