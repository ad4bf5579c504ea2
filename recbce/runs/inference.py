"""inference.pt: what serving a run needs besides its parameters, so that a run folder
recommends on its own, moved anywhere, with its data file gone.

It holds the id maps, every observed pair (the items a recommendation never repeats) as an
int32 CSR per user, the items' training counts (the popularity fallback), and whatever the
model reads at scoring time (recbce.data.history.ScoringInputs: a per-user item index, a
graph as a sparse matrix), stored field by field as plain tensors. All of it loads with
torch.load(weights_only=True).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from recbce.data.dataset import Dataset, Positives
from recbce.data.history import ScoringInputs
from recbce.errors import RunError
from recbce.runs.contents import INFERENCE_FILE
from recbce.runs.files import save_torch

FORMAT = 1


@dataclass
class Inference:
    user_ids: list
    item_ids: list
    seen: Positives  # every observed pair: train, validation and test
    item_counts: torch.Tensor  # [n_items] training interactions per item
    inputs: ScoringInputs


def save_inference(run_dir: Path, dataset: Dataset, inputs: ScoringInputs) -> None:
    save_torch(Path(run_dir) / INFERENCE_FILE, {
        "format": FORMAT,
        "user_ids": dataset.user_ids,
        "item_ids": dataset.item_ids,
        "seen": pack_csr(dataset.all_positives()),
        "item_counts": dataset.item_counts().to(torch.int32),
        "inputs": pack_inputs(inputs),
    })


def load_inference(run_dir: Path) -> Inference:
    path = Path(run_dir) / INFERENCE_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {INFERENCE_FILE} (a run trained before runs were self-contained, "
                       "or one that did not finish): train it again")
    try:
        saved = torch.load(path, weights_only=True)
        n_items = len(saved["item_ids"])
        return Inference(saved["user_ids"], saved["item_ids"], unpack_csr(saved["seen"], n_items),
                         saved["item_counts"].long(), unpack_inputs(saved["inputs"], n_items))
    except RunError:
        raise
    except Exception as err:  # a damaged or foreign file can fail in many ways inside torch
        raise RunError(f"{path}: cannot load: {str(err).splitlines()[0]}") from None


def pack_csr(pairs: Positives) -> dict:
    return {"indptr": pairs.indptr.to(torch.int32), "indices": pairs.indices.to(torch.int32)}


def unpack_csr(packed: dict, n_items: int) -> Positives:
    indptr, indices = packed["indptr"].long(), packed["indices"].long()
    owners = torch.repeat_interleave(torch.arange(len(indptr) - 1), indptr[1:] - indptr[:-1])
    return Positives(indptr=indptr, indices=indices, keys=owners * n_items + indices, n_items=n_items)


def pack_inputs(inputs: ScoringInputs) -> dict:
    """Each set field of ScoringInputs by name: a per-user item index as CSR, a tensor as is."""
    packed = {}
    for field in dataclasses.fields(inputs):
        value = getattr(inputs, field.name)
        if value is None:
            continue
        if isinstance(value, Positives):
            packed[field.name] = {"csr": pack_csr(value)}
        elif isinstance(value, torch.Tensor) and value.layout == torch.sparse_csr:
            packed[field.name] = {"sparse_csr": pack_sparse(value)}
        elif isinstance(value, torch.Tensor) and value.layout == torch.strided:
            packed[field.name] = {"tensor": value}
        else:
            raise TypeError(f"ScoringInputs.{field.name}: cannot store a {type(value).__name__} in "
                            f"{INFERENCE_FILE}; use a tensor or a Positives index")
    return packed


def unpack_inputs(packed: dict, n_items: int) -> ScoringInputs:
    known = {field.name for field in dataclasses.fields(ScoringInputs)}
    unknown = set(packed) - known
    if unknown:
        raise RunError(f"{INFERENCE_FILE} holds scoring inputs this recbce does not know: "
                       f"{', '.join(sorted(unknown))} (written by a newer version?)")
    values = {}
    for name, entry in packed.items():
        if "csr" in entry:
            values[name] = unpack_csr(entry["csr"], n_items)
        elif "sparse_csr" in entry:
            values[name] = unpack_sparse(entry["sparse_csr"])
        else:
            values[name] = entry["tensor"]
    return ScoringInputs(**values)


def pack_sparse(matrix: torch.Tensor) -> dict:
    """A sparse CSR matrix (a graph) as plain tensors, its indices as int32 when they fit."""
    crow, col = matrix.crow_indices(), matrix.col_indices()
    small = max(matrix.shape) < 2**31 and matrix.values().numel() < 2**31
    return {"crow": crow.to(torch.int32) if small else crow, "col": col.to(torch.int32) if small else col,
            "values": matrix.values(), "size": list(matrix.shape), "index_dtype": str(crow.dtype)}


def unpack_sparse(packed: dict) -> torch.Tensor:
    dtype = torch.int64 if packed["index_dtype"] == "torch.int64" else torch.int32
    # Invariants checked: indices read from a file must not send torch's kernels out of bounds.
    return torch.sparse_csr_tensor(packed["crow"].to(dtype), packed["col"].to(dtype), packed["values"],
                                   tuple(packed["size"]), check_invariants=True)
