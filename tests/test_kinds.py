"""The facts each loss, sampler and model states once (recbce.config.kinds) against the
registries themselves, and the rules that read them."""

import inspect

import pytest
import torch

from recbce.config import Config, LossConfig, prior_problem
from recbce.config.kinds import LOSS_KINDS, MODEL_KINDS, SAMPLER_KINDS, negatives_per_positive
from recbce.data import sampling
from recbce.models import MODELS
from recbce.starter import STARTER
from recbce.training import losses


def test_every_loss_has_its_facts_and_every_fact_a_loss():
    assert set(LOSS_KINDS) == set(losses.LOSSES)


@pytest.mark.parametrize("name", sorted(LOSS_KINDS))
def test_a_kinds_parameters_are_its_functions_and_its_sections_keys(name):
    kind = LOSS_KINDS[name]
    keywords = set(inspect.signature(losses.LOSSES[name]).parameters) - {"pos", "neg"}
    assert keywords == set(kind.params) | ({"n_items"} if kind.catalogue_size else set())
    assert set(kind.params.values()) <= set(LossConfig.model_fields)
    bound = losses.build_loss(LossConfig(name=name, pos_weight=2.0, temperature=0.5, gbce_t=0.5), 100)
    assert bound.keywords.keys() == keywords
    for keyword, key in kind.params.items():
        assert bound.keywords[keyword] == getattr(LossConfig(name=name, pos_weight=2.0, temperature=0.5,
                                                             gbce_t=0.5), key)


def test_the_config_accepts_exactly_the_kinds_and_the_starter_names_them_all():
    for name in LOSS_KINDS:
        assert LossConfig(name=name).name == name
        assert name in STARTER.split("name: bce")[1].splitlines()[0]
    with pytest.raises(ValueError, match="bce"):
        LossConfig(name="hinge")


def test_the_rules_follow_the_facts():
    """Each fact refuses what it should: negatives, the cosine scorer, the bias, the prior."""
    for name, kind in LOSS_KINDS.items():
        sampler = {"kind": "uniform", "ratio": 4 if kind.negatives else 0}
        model = {"scorer": "cosine", "bias": not kind.no_bias}
        Config(loss={"name": name}, sampler=sampler, model=model)  # what it needs: accepted
        with pytest.raises(ValueError, match="negatives"):
            Config(loss={"name": name}, sampler={"kind": "uniform", "ratio": 0 if kind.negatives else 4},
                   model=model)
        if kind.cosine:
            with pytest.raises(ValueError, match=f"loss.name {name} needs model.scorer: cosine"):
                Config(loss={"name": name}, sampler=sampler, model={"scorer": "dot", "bias": False})
        defaulted = Config(loss={"name": name}, sampler=sampler, model={**model, "bias": True}
                           if not kind.no_bias else model)
        assert (defaulted.model.bias_init == "prior") == (kind.base_rate and not kind.no_bias)


def test_sigmoid_losses_are_the_two_class_cross_entropy():
    """A loss stated sigmoid is, on one negative, −log σ(s⁺) − log(1 − σ(s⁻)) (up to its weights)."""
    pos, neg = torch.tensor([0.3, -1.2]), torch.tensor([[0.7], [-0.4]])
    two_class = -(torch.log(torch.sigmoid(pos)) + torch.log(1 - torch.sigmoid(neg[:, 0]))).mean()
    for name, kind in LOSS_KINDS.items():
        if kind.sigmoid and kind.negatives:
            value = losses.build_loss(LossConfig(name=name), n_items=2)(pos, neg)  # gbce t=0 is bce
            assert torch.allclose(value, two_class, atol=1e-6), name


def test_every_sampler_has_its_facts_and_every_fact_a_sampler():
    assert set(SAMPLER_KINDS) == set(sampling.SAMPLERS)
    for name in SAMPLER_KINDS:
        assert name in STARTER.split("kind: shared")[1].splitlines()[0]


@pytest.mark.parametrize("name", sorted(SAMPLER_KINDS))
def test_a_samplers_facts_set_its_defaults_and_its_negatives(name):
    kind = SAMPLER_KINDS[name]
    config = Config(sampler={"kind": name}, train={"batch_size": 64})
    assert config.sampler.ratio == kind.default_ratio
    expected = config.sampler.ratio if kind.ratio else 63
    assert negatives_per_positive(config) == expected
    if not kind.pool:
        with pytest.raises(ValueError, match="sampler.pool applies to kind: shared only"):
            Config(sampler={"kind": name, "pool": "popularity"})
    if not kind.ratio:  # the batch is the negatives: ratio 0 is no refusal, a batch of 1 has none
        Config(sampler={"kind": name, "ratio": 0})
        one_row = Config(sampler={"kind": name}, train={"batch_size": 1}, model={"bias_init": 0.0})
        assert "train.batch_size >= 2" in prior_problem(one_row)


def test_every_model_has_its_facts_and_every_fact_a_model():
    assert set(MODEL_KINDS) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODEL_KINDS))
def test_a_models_facts_set_its_default_mix_and_refuse_what_it_lacks(name):
    kind = MODEL_KINDS[name]
    config = Config(model={"kind": name})
    assert config.model.history == (0.0 if kind.no_history else 0.5)
    if kind.no_history:
        with pytest.raises(ValueError, match=f"not implemented for model.kind {name}"):
            Config(model={"kind": name, "history": 0.5})
    if kind.dense_gradients:
        with pytest.raises(ValueError, match=f"model.kind {name}'s are dense"):
            Config(model={"kind": name}, train={"optimizer": "sparse_adam"})
    else:
        Config(model={"kind": name}, train={"optimizer": "sparse_adam"})
