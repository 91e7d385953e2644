"""Configs: YAML files in this folder, validated by one dataclass schema (``configs.schema``).

The parts: ``schema`` (the dataclasses, every key typed), ``typed`` (plain data → dataclasses, each
value checked against its type), ``overrides`` (the command line's ``--section.key VALUE``) and
``validate`` (checks across keys). This module puts them together.

``load_config("lcnet050_cosface_96", ["--train.batch_size", "64", "--lr", "3e-3"])`` reads
``configs/lcnet050_cosface_96.yaml`` (or a path), applies the overrides and checks the result.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from configs.overrides import parse_overrides, set_dotted
from configs.schema import (
    LCNET_WIDTHS,
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    OnnxConfig,
    OptimConfig,
    TrainConfig,
)
from configs.typed import from_dict
from configs.validate import validate

__all__ = [
    "LCNET_WIDTHS",
    "Config",
    "ConfigError",
    "DataConfig",
    "ModelConfig",
    "OnnxConfig",
    "OptimConfig",
    "TrainConfig",
    "available_configs",
    "config_from_dict",
    "load_config",
    "parse_overrides",
    "resolve_config_path",
]

CONFIG_DIR = Path(__file__).resolve().parent


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"{name_or_path}: config file not found")
        return path
    path = CONFIG_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ConfigError(f"{name_or_path}: no such config (known: {', '.join(available_configs())}; or give a path)")
    return path


def config_from_dict(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
    """Build and validate a Config from plain data (a YAML mapping, a checkpoint's copy)."""
    data = copy.deepcopy(data)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    cfg = from_dict(Config, data)
    validate(cfg)
    return cfg


def load_config(name_or_path: str, overrides: Sequence[str] | dict[str, Any] = ()) -> Config:
    path = resolve_config_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    data.setdefault("name", path.stem)
    if not isinstance(overrides, dict):
        overrides = parse_overrides(overrides)
    try:
        return config_from_dict(data, overrides)
    except ConfigError as e:
        raise ConfigError(f"{path.name}: {e}") from None
