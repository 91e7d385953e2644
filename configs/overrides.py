"""Command-line overrides of a config: ``--section.key VALUE`` (or a unique leaf name, or
``--key=VALUE``) parsed against the schema's keys, and set into a config's plain data."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any, Literal

import yaml

from configs.schema import Config, ConfigError
from configs.typed import closest, leaf_keys


def parse_overrides(args: Sequence[str]) -> dict[str, Any]:
    """``["--train.batch_size", "64", "--lr=3e-3"]`` → ``{"train.batch_size": 64, "optim.lr": "3e-3"}``.

    A key may be dotted (``train.batch_size``) or a leaf name that is unique in the schema
    (``batch_size``); dashes and underscores are interchangeable. Values are parsed as YAML.
    """
    keys = leaf_keys(Config)
    by_leaf: dict[str, list[str]] = {}
    for dotted in keys:
        by_leaf.setdefault(dotted.rsplit(".", 1)[-1], []).append(dotted)

    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) == 2:
            raise ConfigError(f"unexpected argument '{arg}' (overrides look like --section.key VALUE)")
        if "=" in arg:
            name, raw = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"--{arg[2:]}: missing value")
            name, raw = arg[2:], args[i + 1]
            i += 2
        name = name.replace("-", "_")
        if name not in keys:
            candidates = by_leaf.get(name, [])
            if len(candidates) > 1:
                raise ConfigError(f"--{name} is ambiguous: use one of {', '.join('--' + c for c in candidates)}")
            if not candidates:
                close = closest(name, list(keys) + list(by_leaf))
                hint = f" (did you mean --{close}?)" if close else ""
                raise ConfigError(f"unknown config key '{name}'{hint}")
            name = candidates[0]
        out[name] = _parse_value(raw, keys[name])
    return out


def _parse_value(raw: str, annotation: Any) -> Any:
    """Text for string-typed keys (so `--name off` stays "off"); YAML for everything else."""
    if annotation is str or (
        typing.get_origin(annotation) is Literal and all(isinstance(a, str) for a in typing.get_args(annotation))
    ):
        return raw
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for p in parents:
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"{dotted}: '{p}' is not a section")
        node = child
    node[leaf] = value
