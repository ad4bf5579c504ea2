import copy
import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from recbce.cli.app import app
from recbce.config import ModelConfig, load_config, validate
from recbce.data.dataset import Positives
from recbce.data.graph import normalized_adjacency
from recbce.data.history import ScoringInputs
from recbce.errors import ConfigError
from recbce.models import Batch, build_model
from recbce.models.lightgcn import LightGCN, SymmetricProduct
from recbce.runs.trained import load_trained
from recbce.training.loop import train
from recbce.training.optim import build_optimizer

N_USERS, N_ITEMS = 6, 9
USERS = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5])
ITEMS = torch.tensor([1, 4, 8, 2, 8, 7, 0, 3, 5, 8, 6, 1, 2])
runner = CliRunner()


def graph(dtype=torch.float32) -> torch.Tensor:
    positives = Positives.from_pairs(USERS, ITEMS, N_USERS, N_ITEMS)
    adjacency = normalized_adjacency(positives, N_USERS)
    return adjacency.to(dtype) if dtype != torch.float32 else adjacency


def model(layers: int = 3, **settings) -> LightGCN:
    config = ModelConfig(**{"kind": "lightgcn", "dim": 4, "layers": layers, "scorer": "dot",
                            "temperature": 1.0, **settings})
    built = build_model(config, N_USERS, N_ITEMS, ScoringInputs(graph=graph()),
                        generator=torch.Generator().manual_seed(0))
    if built.item_bias is not None:
        torch.nn.init.normal_(built.item_bias.weight)  # a non-zero bias must be added per item
    return built


def dense_propagation(built: LightGCN) -> tuple[torch.Tensor, torch.Tensor]:
    """mean(E, ÂE, Â²E, ...) with a dense Â, in float64."""
    dense = graph().to_dense().double()
    layer = torch.cat([built.user.weight, built.item.weight]).detach().double()
    layers = [layer]
    for _ in range(built.layers):
        layers.append(dense @ layers[-1])
    mean = torch.stack(layers).mean(0).float()
    return mean[:N_USERS], mean[N_USERS:]


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_propagation_is_the_mean_of_the_layers(layers):
    built = model(layers)
    users, items = built.propagate()
    expected_users, expected_items = dense_propagation(built)
    torch.testing.assert_close(users, expected_users)
    torch.testing.assert_close(items, expected_items)
    if layers:  # a user's vector now carries its items': it moved
        assert not torch.allclose(users, built.user.weight)


def test_symmetric_product_gradient_matches_autograd_on_the_dense_graph():
    sparse = graph(torch.float64)
    x = torch.randn(N_USERS + N_ITEMS, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda e: SymmetricProduct.apply(sparse, e), (x,))
    weights = torch.randn(N_USERS + N_ITEMS, 3, dtype=torch.float64)
    (SymmetricProduct.apply(sparse, SymmetricProduct.apply(sparse, x)) * weights).sum().backward()
    mine, x.grad = x.grad, None
    dense = sparse.to_dense()
    (dense @ (dense @ x) * weights).sum().backward()
    torch.testing.assert_close(mine, x.grad)


@pytest.mark.parametrize("settings", [{"bias": True}, {"bias": False},
                                      {"bias": True, "scorer": "cosine", "temperature": 0.1}])
def test_training_scores_equal_scoring_scores(settings):
    built = model(**settings)
    users, items = torch.tensor([3, 0, 5, 3]), torch.tensor([5, 8, 1, 0])
    negatives = torch.tensor([[2, 2, 7], [0, 3, 6], [8, 1, 4], [4, 4, 4]])
    pool = torch.tensor([6, 0, 2])
    mask = torch.zeros(4, 3)
    mask[1, 1] = -torch.inf
    pos, neg = built(Batch(users, items, negatives=negatives))
    torch.testing.assert_close(pos, built.score_pairs(users, items))
    torch.testing.assert_close(neg, built.score_pairs(users, negatives))
    pos, neg = built(Batch(users, items, pool=pool, mask=mask))
    expected = built.score_all(users)[:, pool] + mask
    torch.testing.assert_close(neg, expected)
    torch.testing.assert_close(pos, built.score_all(users).gather(1, items.unsqueeze(1)).squeeze(1))


def test_gradient_reaches_items_the_batch_did_not_score():
    built = model(bias=False)
    pos, neg = built(Batch(torch.tensor([0]), torch.tensor([1]), negatives=torch.tensor([[6]])))
    (pos - neg[:, 0]).sum().backward()
    # User 0's items include 4 and 8; after 3 hops its score reads users 1, 3 and their items.
    assert built.item.weight.grad[[4, 8]].ne(0).all() and built.user.weight.grad[[1, 3]].ne(0).all()


def test_export_reproduces_score_all_exactly():
    for settings in ({"bias": True}, {"bias": False, "scorer": "cosine", "temperature": 0.2}):
        built = model(**settings)
        vectors = built.export()
        plain = vectors.users @ vectors.items.T
        if vectors.item_bias is not None:
            plain = plain + vectors.item_bias
        assert torch.equal(plain, built.score_all(torch.arange(N_USERS)))


@pytest.mark.parametrize("optimizer", ["row_adam", "adam"])
def test_scoring_cache_follows_every_parameter_change(optimizer):
    built = model()
    first = copy.deepcopy(built.state_dict())
    before = built.score_all(torch.arange(N_USERS)).clone()
    optim = build_optimizer(built, load_config_default(optimizer))
    pos, neg = built(Batch(torch.tensor([0, 2]), torch.tensor([1, 7]), negatives=torch.tensor([[3], [5]])))
    (neg - pos.unsqueeze(1)).sum().backward()
    optim.step()
    after = built.score_all(torch.arange(N_USERS))
    assert not torch.equal(after, before)
    fresh = copy.deepcopy(built)
    torch.testing.assert_close(after, fresh.score_all(torch.arange(N_USERS)))
    built.load_state_dict(first)  # back to the first parameters
    torch.testing.assert_close(built.score_all(torch.arange(N_USERS)), before)


def load_config_default(optimizer: str):
    return validate({"train": {"optimizer": optimizer, "lr": 0.1}}).train


def test_a_deep_copy_shares_the_graph_and_not_the_parameters():
    built = model()
    built.score_all(torch.arange(2))
    copied = copy.deepcopy(built)
    assert copied.graph.value is built.graph.value
    assert copied.cache.value is None
    assert set(built.state_dict()) == {"user.weight", "item.weight", "item_bias.weight"}


def test_without_a_graph_the_model_is_refused():
    with pytest.raises(ValueError, match="needs the user-item graph"):
        build_model(ModelConfig(kind="lightgcn", scorer="dot", temperature=1.0), N_USERS, N_ITEMS,
                    ScoringInputs())


@pytest.mark.parametrize("setting, message", [
    ({"model": {"kind": "lightgcn", "history": 0.5}}, "model.history and model.context are not"),
    ({"model": {"kind": "lightgcn"}, "train": {"optimizer": "sparse_adam"}}, "sparse_adam needs sparse"),
])
def test_unsupported_settings_are_one_line_config_errors(setting, message):
    with pytest.raises(ConfigError, match=message) as error:
        validate(setting)
    assert "\n" not in str(error.value)


def lightgcn_config(make_config, **train):
    return make_config(model={"kind": "lightgcn", "dim": 16, "layers": 2},
                       sampler={"kind": "shared", "ratio": 32}, loss={"name": "softmax"},
                       train={"epochs": 3, "batch_size": 128, "lr": 0.05, **train})


def test_a_planted_taste_is_recovered_then_saved_loaded_evaluated_and_recommended(make_config):
    summary = train(load_config(lightgcn_config(make_config)), progress=False, log=lambda *a: None)
    test, popular = summary["test"], summary["popularity"]
    assert test["recall@20"] > popular["recall@20"] + 0.1, (test, popular)
    run = summary["run_dir"]
    config, dataset, loaded = load_trained(run)
    assert isinstance(loaded, LightGCN) and loaded.graph.value.shape[0] == dataset.n_users + dataset.n_items
    result = runner.invoke(app, ["evaluate", "--run", run])
    assert result.exit_code == 0, result.output
    per_user = f"{run}/per-user.csv"
    assert runner.invoke(app, ["evaluate", "--run", run, "--per-user", per_user]).exit_code == 0
    assert f"{test['recall@20']:.4f}" in result.output
    result = runner.invoke(app, ["recommend", "--run", run, "--users", dataset.user_ids[0], "--k", "3"])
    assert result.exit_code == 0 and result.output.count(str(dataset.user_ids[0])) >= 3, result.output


def test_resume_ends_exactly_like_an_uninterrupted_run(make_config, tmp_path):
    whole = train(load_config(lightgcn_config(make_config), ["run.name=whole"]), progress=False, log=print)
    first = train(load_config(lightgcn_config(make_config, epochs=2), ["run.name=resumed"]), progress=False)
    run_dir = tmp_path / "runs" / "resumed"
    resolved = yaml.safe_load((run_dir / "config.yaml").read_text())
    resolved["train"]["epochs"] = 3
    (run_dir / "config.yaml").write_text(yaml.safe_dump(resolved))
    resumed = train(load_config(run_dir / "config.yaml"), resume=True, progress=False)
    assert first["test"] != whole["test"]  # the resumed run had an epoch left to train
    assert resumed["test"] == whole["test"]
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"
