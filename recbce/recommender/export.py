"""`recbce export`: a run's user and item vectors with their ids, for a vector index, a
database or a feature store.

    score(u, v) = user_vectors[u] · item_vectors[v] + item_bias[v]

reproduces the model's scores, and so `recommend`'s ranking (which also leaves out the items
each user has seen): what the model does before its final dot product (cosine normalisation,
temperature, the history mix) is folded into the vectors by the model's own `export()`.

Files: user_vectors.npy, item_vectors.npy, item_bias.npy (float32; zeros for a model without
item biases), user_ids.csv and item_ids.csv (row i of the ids is row i of the vectors),
users.parquet and items.parquet (id, vector, and bias for items) when pyarrow is installed,
and export.json describing them. For users the run never trained, export.json's `new_users` gives
the formula from a user's items to a user vector and the arrays it reads (item_inputs.npy, and
for LightGCN item_layers.npy and item_degree.npy).
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import numpy as np
import pandas as pd

from recbce import runs
from recbce.errors import MissingExtra, RecbceError, RunError

SCORE = "user_vectors[u] · item_vectors[v] + item_bias[v]"
EXPORT_FILE = "export.json"


def write_export(recommender, out: Path, overwrite: bool = False) -> list[Path]:
    """Write the files into `out` (made if needed); an existing export is replaced only
    with `overwrite`. Returns the paths written, export.json last."""
    prepare(out, overwrite)
    vectors = recommender.vectors()
    users = vectors.users.float().numpy()
    items = vectors.items.float().numpy()
    bias = np.zeros(len(items), np.float32)
    if vectors.item_bias is not None:
        bias = vectors.item_bias.float().numpy()
    user_ids, item_ids = recommender.users.values, recommender.items.values
    written = [write_npy(out / "user_vectors.npy", users), write_npy(out / "item_vectors.npy", items),
               write_npy(out / "item_bias.npy", bias),
               write_csv(out / "user_ids.csv", pd.DataFrame({"user": user_ids})),
               write_csv(out / "item_ids.csv", pd.DataFrame({"item": item_ids}))]
    recipe = new_user_recipe(recommender.model)
    for name, array in recipe.pop("arrays").items():
        written.append(write_npy(out / f"{name}.npy", array.float().numpy()))
    parquet = importlib.util.find_spec("pyarrow") is not None
    if parquet:
        written.append(write_parquet(out / "users.parquet", pd.DataFrame({"user": user_ids,
                                                                          "vector": list(users)})))
        written.append(write_parquet(out / "items.parquet", pd.DataFrame({
            "item": item_ids, "vector": list(items), "bias": bias})))
    runs.write_json(out / EXPORT_FILE, {
        "run": str(Path(recommender.run_dir).resolve()),
        "model": recommender.config.model.kind,
        "score": SCORE,
        "folded_in": "everything the model does before its final dot product (cosine "
                     "normalisation, temperature, the history mix)",
        "seen_items": "recommend also leaves out the items each user had in the data; "
                      "the vectors rank every item",
        "n_users": len(users), "n_items": len(items), "dim": int(users.shape[1]),
        "has_item_bias": vectors.item_bias is not None,
        "new_users": recipe,
        "files": [path.name for path in written],
        "parquet": parquet or "not written: pip install 'recbce[parquet]'",
    })
    return [*written, out / EXPORT_FILE]


def new_user_recipe(model) -> dict:
    """How a vector index makes a vector for a user the run never trained, from the user's items
    (the rows of item_ids.csv): the model's formula and the arrays it reads."""
    lines, arrays = model.fold_in_recipe()
    return {"vector": lines, "arrays": arrays,
            "files": [f"{name}.npy" for name in arrays],
            "then": "score it as a user vector: user · item_vectors[v] + item_bias[v], leaving out the "
                    "user's own items. This is where Recommender.recommend_for_history starts; it then "
                    "takes Adam steps on the run's loss (steps=0 gives exactly this vector)."}


def prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RunError(f"export folder {out} is a file")
    if (out / EXPORT_FILE).exists() and not overwrite:
        raise RunError(f"{out} already holds an export: pass --overwrite to replace it")
    if out.exists() and any(out.iterdir()) and not (out / EXPORT_FILE).exists():
        raise RunError(f"{out} is not empty: export into a new or empty folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunError(f"cannot create {out}: {err.strerror or err}") from None


def write_npy(path: Path, array: np.ndarray) -> Path:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    runs.write_bytes(path, buffer.getvalue())
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    runs.write_text(path, frame.to_csv(index=False))
    return path


def write_parquet(path: Path, frame: pd.DataFrame) -> Path:
    runs.write_parquet(path, frame)
    return path


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """A result table (recommendations, similar items) as CSV, TSV or Parquet, by the file's
    extension; written atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise MissingExtra("writing Parquet needs pyarrow: pip install 'recbce[parquet]'")
        return write_parquet(path, frame)
    if path.suffix in (".csv", ".tsv"):
        runs.write_text(path, frame.to_csv(index=False, sep="\t" if path.suffix == ".tsv" else ","))
        return path
    raise RecbceError(f"--out {path}: use a .csv, .tsv or .parquet file name")
