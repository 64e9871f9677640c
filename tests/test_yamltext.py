"""The quoting filter of the stack-file template: every value reads back as itself."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlstack.yamltext import block, quote

TRICKY = [
    "Off", "on", "yes", "NO", "y", "null", "~", "true", "1.10", "1.0.0", "8080", "0o17", "0x1F",
    "1e3", ".inf", "-x", "a b", "key: value", "x:", "#comment", "", "@at", "*ref", "é",
    "unix:///var/run/docker.sock", "node.role==worker", "registry.example.com/ml",
]  # fmt: skip


@pytest.mark.parametrize("value", TRICKY)
def test_text_reads_back_as_text(value: str) -> None:
    written = quote(value)
    assert yaml.safe_load(f"key: {written}") == {"key": value}


@pytest.mark.parametrize("value", ["Off", "yes", "0o17", "1.10", "8080"])
def test_words_other_yaml_versions_misread_are_quoted(value: str) -> None:
    # YAML 1.1 (PyYAML) and 1.2 (the Pulumi engine's Go parser) disagree on these; quoted,
    # both read text.
    assert quote(value).startswith('"')


@pytest.mark.parametrize("value", [0, 8080, -3, 0.5, 1e-05, 2e20, True, False])
def test_numbers_and_booleans_keep_their_type(value: Any) -> None:
    loaded = yaml.safe_load(quote(value))
    assert loaded == value
    assert type(loaded) is type(value)


def test_block_writes_nested_structures_that_read_back() -> None:
    value = {
        "models": [{"name": "iris", "env": {"MODE": "Off"}, "port": 8080}],
        "empty": {},
        "none": [],
        "nested": [["a", "1.10"]],
    }
    assert yaml.safe_load(block(value, 2)) == value
