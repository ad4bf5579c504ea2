"""The YAML loader: what safe_load accepts that recbce must not (bombs, duplicates, huge text)."""

import time

import pytest

from recbce import yaml_loader
from recbce.yaml_loader import YamlError, load

# 9 levels of 10 aliases each: 10^9 leaves once expanded, in a few hundred bytes.
BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8))


def test_plain_documents_load_as_safe_load_would():
    assert load("a: 1\nb: [1, 2.5, x]\nc: {d: null}\n") == {"a": 1, "b": [1, 2.5, "x"], "c": {"d": None}}
    assert load("\ufeffseed: 3\r\n") == {"seed": 3}  # BOM and CRLF
    assert load("") is None
    assert load("base: &b {x: 1}\nother: *b\nmerged: {<<: *b, y: 2}\n") == {
        "base": {"x": 1}, "other": {"x": 1}, "merged": {"x": 1, "y": 2}}


def test_an_alias_bomb_is_refused_quickly_with_a_short_message():
    assert len(BOMB) < 400
    started = time.process_time()
    with pytest.raises(YamlError, match="expands to more than 100,000 values") as err:
        load(BOMB)
    assert time.process_time() - started < 5  # the unguarded walk takes minutes and GBs
    assert len(str(err.value)) < 200


def test_a_key_given_twice_is_refused_naming_key_and_line():
    with pytest.raises(YamlError, match="duplicate key 'lr' at line 3"):
        load("train:\n  lr: 0.1\n  lr: 0.2\n")
    with pytest.raises(YamlError, match="duplicate key 'train' at line 3"):
        load("train: {}\nseed: 1\ntrain: {}\n")
    assert load("a: {<<: {x: 1}, x: 2}\n") == {"a": {"x": 2}}  # a merge key may be overridden


def test_size_depth_and_alias_caps():
    with pytest.raises(YamlError, match="larger than 1 MB"):
        load("a: " + "x" * (yaml_loader.MAX_BYTES + 1))
    with pytest.raises(YamlError, match="nested deeper than 64"):
        load("[" * 100 + "]" * 100)
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * (yaml_loader.MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(YamlError, match="more than 1000 aliases"):
        load(many)


def test_errors_are_one_line_and_never_echo_a_long_value():
    with pytest.raises(YamlError, match="invalid YAML at line 2") as err:
        load("a: 1\n b: [" + "y" * 5000)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300
    with pytest.raises(YamlError) as err:
        load("a: !!python/object/apply:os.system ['echo hi']\n")
    assert "python/object" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(YamlError, match="special characters are not allowed"):
        load("\x00")
    with pytest.raises(YamlError, match="duplicate key") as err:
        load(f"{'k' * 900}: 1\n{'k' * 900}: 2\n")
    assert len(str(err.value)) < 200
