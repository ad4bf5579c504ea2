"""inference.pt (recbce/runs/inference.py): what serving reads, stored compactly in the run
and loadable with weights_only=True."""

from __future__ import annotations

import pytest
import torch

from recbce.config import load_config
from recbce.data.dataset import Positives, load_dataset
from recbce.data.history import ScoringInputs, scoring_inputs
from recbce.errors import RunError
from recbce.runs.inference import load_inference, pack_inputs, save_inference, unpack_inputs
from recbce.training.loop import train


def test_a_finished_run_holds_what_serving_needs(make_config, tmp_path):
    config = load_config(make_config(model={"history": 0.5}))
    train(config, progress=False, log=lambda *a, **k: None)
    raw = torch.load(config.run_dir / "inference.pt", weights_only=True)
    assert raw["seen"]["indptr"].dtype == raw["seen"]["indices"].dtype == torch.int32
    dataset = load_dataset(config.data, config.seed)
    loaded = load_inference(config.run_dir)
    assert loaded.user_ids == dataset.user_ids and loaded.item_ids == dataset.item_ids
    every = dataset.all_positives()
    assert torch.equal(loaded.seen.indptr, every.indptr) and torch.equal(loaded.seen.keys, every.keys)
    assert torch.equal(loaded.item_counts, dataset.item_counts())
    history = scoring_inputs(dataset, config.model).history
    assert torch.equal(loaded.inputs.history.indices, history.indices)
    assert torch.equal(loaded.inputs.history.keys, history.keys)


def test_inputs_are_stored_by_field_and_checked_back(tmp_path):
    pairs = Positives.from_pairs(torch.tensor([0, 0, 2]), torch.tensor([3, 1, 0]), 3, 4)
    packed = pack_inputs(ScoringInputs(history=pairs))
    back = unpack_inputs(packed, 4).history
    assert back.rows(torch.tensor([0, 2]))[1].tolist() == [1, 3, 0]
    assert unpack_inputs(pack_inputs(ScoringInputs()), 4).history is None
    with pytest.raises(RunError, match="scoring inputs this recbce does not know: mesh"):
        unpack_inputs({**packed, "mesh": {"tensor": torch.zeros(2)}}, 4)
    with pytest.raises(TypeError, match="ScoringInputs.history: cannot store a list"):
        pack_inputs(ScoringInputs(history=[1, 2]))


def test_a_sparse_graph_comes_back_bit_for_bit(tmp_path):
    graph = torch.sparse_coo_tensor(torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]]), torch.rand(4),
                                    (4, 4), check_invariants=True).to_sparse_csr()
    packed = pack_inputs(ScoringInputs(graph=graph))
    assert packed["graph"]["sparse_csr"]["col"].dtype == torch.int32
    torch.save(packed, tmp_path / "p.pt")
    back = unpack_inputs(torch.load(tmp_path / "p.pt", weights_only=True), 2).graph
    assert back.layout == torch.sparse_csr and back.crow_indices().dtype == graph.crow_indices().dtype
    assert torch.equal(back.to_dense(), graph.to_dense())
    broken = torch.load(tmp_path / "p.pt", weights_only=True)
    broken["graph"]["sparse_csr"]["col"][0] = 99  # out of bounds
    with pytest.raises(RuntimeError):
        unpack_inputs(broken, 2)


def test_missing_or_damaged_file_is_one_line(tmp_path):
    with pytest.raises(RunError, match="no inference.pt .* train it again"):
        load_inference(tmp_path)
    (tmp_path / "inference.pt").write_bytes(b"not a torch file")
    with pytest.raises(RunError, match="inference.pt: cannot load"):
        load_inference(tmp_path)


def test_save_writes_atomically_in_place(tiny_data, tmp_path):
    config = load_config_for(tiny_data, tmp_path)
    dataset = load_dataset(config.data, config.seed)
    save_inference(tmp_path, dataset, ScoringInputs())
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt") == ["inference.pt"]
    assert load_inference(tmp_path).inputs.history is None


def load_config_for(data, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"data: {{path: {data}, split: {{valid_ratio: 0.0}}}}\n")
    return load_config(path)
