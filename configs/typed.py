"""Dataclasses from plain data (a YAML mapping, a checkpoint's copy), every value checked against
its annotation: a wrong type or an unknown key is a ``ConfigError`` naming the key's dotted path
(with the closest known key as a hint), never a silent default."""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Literal, Union

from configs.schema import ConfigError


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (dataclasses built)."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key)
    if origin is Literal:
        # YAML 1.1 reads a bare off/on as false/true: `amp: off` means the choice "off".
        if isinstance(value, bool) and ("off" if not value else "on") in typing.get_args(tp):
            value = "on" if value else "off"
        if value not in typing.get_args(tp):
            raise ConfigError(f"{key}: must be one of {_type_name(tp)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _convert(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{key}: expected null, got {value!r}")
        return None
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list ({_type_name(tp)}), got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping ({_type_name(tp)}), got {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        out = {}
        for k, v in value.items():
            if key_tp is int and isinstance(k, str) and k.lstrip("-").isdigit():
                k = int(k)  # YAML/JSON write axis indices as strings: {"0": batch_size}
            out[_convert(k, key_tp, f"{key} (key)")] = _convert(v, val_tp, f"{key}.{k}")
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML reads "1e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported annotation {tp!r} in the schema")


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; keys absent from ``data`` keep their defaults."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for k, v in data.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if k not in names:
            match = closest(str(k), names)
            hint = f" (did you mean '{match}'?)" if match else f" (known keys: {', '.join(sorted(names))})"
            raise ConfigError(f"unknown config key '{key}'{hint}")
        kwargs[k] = _convert(v, hints[k], key)
    return cls(**kwargs)


def closest(name: str, choices) -> str | None:
    """The choice most like ``name`` (for "did you mean" hints), or None."""
    match = difflib.get_close_matches(name, sorted(choices), n=1)
    return match[0] if match else None


def leaf_keys(cls: type, prefix: str = "") -> dict[str, Any]:
    """All dotted leaf keys of the schema with their annotations: {'train.batch_size': int, …}."""
    out: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            out.update(leaf_keys(hints[f.name], key + "."))
        else:
            out[key] = hints[f.name]
    return out
