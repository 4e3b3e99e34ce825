"""Checks of one value of a YAML document, each raising a ConfigError that names the key."""

from __future__ import annotations

from typing import Any

from fashion_models.config.yaml_source import KeyPath, YamlDocument, describe


def mapping(
    doc: YamlDocument,
    key: KeyPath,
    value: Any,
    allowed: tuple[str, ...],
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    """`value` as a mapping with only `allowed` keys and every `required` one."""
    if not isinstance(value, dict):
        raise doc.error(key, f"expected a mapping, found {describe(value)}")
    for name in value:
        if name not in allowed:
            raise doc.error((*key, name), f"unknown key (allowed: {', '.join(allowed)})")
    for name in required:
        if name not in value:
            raise doc.error(key, f"missing required key {name!r}")
    return value


def string(doc: YamlDocument, key: KeyPath, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(key, f"expected a non-empty string, found {describe(value)}")
    return value


def integer(doc: YamlDocument, key: KeyPath, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise doc.error(key, f"expected an integer >= {minimum}, found {describe(value)}")
    return value
