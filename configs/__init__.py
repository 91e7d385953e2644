"""Configs: YAML files in this folder, validated by one dataclass schema (``configs.schema``).

``load_config("lcnet050_cosface_96", ["--train.batch_size", "64", "--lr", "3e-3"])`` reads
``configs/lcnet050_cosface_96.yaml`` (or a path), applies the overrides and checks the result.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml

from configs.schema import (
    Config,
    ConfigError,
    DataConfig,
    ModelConfig,
    OnnxConfig,
    OptimConfig,
    TrainConfig,
    closest,
    from_dict,
    leaf_keys,
)

__all__ = [
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
LCNET_WIDTHS = {"025": 0.25, "035": 0.35, "050": 0.5, "075": 0.75, "100": 1.0, "150": 1.5, "200": 2.0}


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


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
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


def config_from_dict(data: dict[str, Any], overrides: dict[str, Any] | None = None) -> Config:
    """Build and validate a Config from plain data (a YAML mapping, a checkpoint's copy)."""
    data = copy.deepcopy(data)
    for dotted, value in (overrides or {}).items():
        _set_dotted(data, dotted, value)
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


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a in b.parents or b in a.parents


def _non_finite(node: Any, prefix: str = "") -> str | None:
    """The dotted key of the first NaN or infinite number in a config tree, if any."""
    if dataclasses.is_dataclass(node):
        items = ((f.name, getattr(node, f.name)) for f in dataclasses.fields(node))
    elif isinstance(node, dict):
        items = ((str(k), v) for k, v in node.items())
    elif isinstance(node, (list, tuple)):
        items = ((str(i), v) for i, v in enumerate(node))
    else:
        return prefix if isinstance(node, float) and not math.isfinite(node) else None
    for name, value in items:
        found = _non_finite(value, f"{prefix}.{name}" if prefix else name)
        if found:
            return found
    return None


def _lookup(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        node = (
            node[int(part)]
            if isinstance(node, (list, tuple))
            else (node[part] if isinstance(node, dict) else getattr(node, part))
        )
    return node


def validate(cfg: Config) -> None:
    """Checks that need more than one key; each message names the keys involved."""
    bad = _non_finite(cfg)
    if bad:
        raise ConfigError(f"{bad}: must be a finite number, got {_lookup(cfg, bad)}")
    m, d, o, t, x = cfg.model, cfg.data, cfg.optim, cfg.train, cfg.onnx
    if not (m.backbone.startswith("timm:") or re.fullmatch(r"lcnet_(\d{3})", m.backbone)):
        raise ConfigError(f"model.backbone: '{m.backbone}' is neither lcnet_XXX nor timm:<name>")
    if m.backbone.startswith("lcnet_") and m.backbone[6:] not in LCNET_WIDTHS:
        raise ConfigError(
            f"model.backbone: unknown LCNet width '{m.backbone}' "
            f"(known: {', '.join('lcnet_' + w for w in LCNET_WIDTHS)})"
        )
    for key, value in [
        ("model.embed_dim", m.embed_dim),
        ("model.squeeze_channels", m.squeeze_channels),
        ("model.hidden_dim", m.hidden_dim),
        ("data.image_size", d.image_size),
        ("train.batch_size", t.batch_size),
        ("train.grad_accum", t.grad_accum),
        ("train.epochs", t.epochs),
        ("train.ckpt_every_steps", t.ckpt_every_steps),
        ("train.log_every_steps", t.log_every_steps),
        ("data.synthetic.num_classes", d.synthetic.num_classes),
        ("data.synthetic.samples_per_class", d.synthetic.samples_per_class),
        ("data.synthetic.family_size", d.synthetic.family_size),
    ]:
        if value <= 0:
            raise ConfigError(f"{key}: must be positive, got {value}")
    if d.tone_p is not None and not 0.0 <= d.tone_p <= 1.0:
        raise ConfigError(f"data.tone_p: must be in [0, 1], got {d.tone_p}")
    fonts = d.synthetic.fonts
    if fonts not in ("auto", "builtin") and not Path(fonts).is_dir():
        raise ConfigError(f"data.synthetic.fonts: {fonts} is neither auto, builtin nor a folder")
    if t.val_every_steps < 0 or t.val_types < 2:
        raise ConfigError("train.val_every_steps must be >= 0 and train.val_types >= 2")
    if t.max_steps < 0 or t.stop_after_steps < 0 or d.num_workers < 0 or o.warmup_steps < 0:
        raise ConfigError(
            "train.max_steps, train.stop_after_steps, data.num_workers and optim.warmup_steps must be >= 0"
        )
    if not 0.0 <= m.dropout < 1.0:
        raise ConfigError(f"model.dropout: must be in [0, 1), got {m.dropout}")
    if m.scale <= 0 or m.margin < 0:
        raise ConfigError(f"model.scale must be > 0 and model.margin >= 0 (got {m.scale}, {m.margin})")
    if t.tensorboard:
        try:
            import tensorboard  # noqa: F401  (torch.utils.tensorboard needs it)
        except ImportError:
            raise ConfigError("train.tensorboard: needs the tensorboard package (pip install tensorboard)") from None
    if t.time_budget_min < 0:
        raise ConfigError(f"train.time_budget_min: minutes, > 0 (0: off), got {t.time_budget_min}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay: must be in [0, 1) (0: off), got {t.ema_decay}")
    if not 0.0 < m.sample_rate <= 1.0:
        raise ConfigError(f"model.sample_rate: must be in (0, 1], got {m.sample_rate}")
    if m.sample_rate < 1.0 and not m.partial_fc:
        raise ConfigError(
            "model.sample_rate < 1 samples the class centres of the PartialFC head: set model.partial_fc true"
        )
    if o.lr <= 0 or o.grad_clip < 0 or not 0 <= o.min_lr_ratio <= 1:
        raise ConfigError("optim.lr must be > 0, optim.grad_clip >= 0, optim.min_lr_ratio in [0, 1]")
    if len(o.betas) != 2:
        raise ConfigError(f"optim.betas: expected two numbers, got {o.betas}")
    if len(d.mean) != 3 or len(d.std) != 3 or min(d.std) <= 0:
        raise ConfigError("data.mean and data.std: three numbers each (RGB), std > 0")
    if not d.sources:
        raise ConfigError("data.sources: at least one source")
    for i, src in enumerate(d.sources):
        if src.kind in ("folder", "pdf") and not src.root:
            raise ConfigError(f"data.sources[{i}].root: required for kind '{src.kind}'")
        if src.weight <= 0:
            raise ConfigError(f"data.sources[{i}].weight: must be positive, got {src.weight}")
        if src.max_pages < 0:
            raise ConfigError(f"data.sources[{i}].max_pages: 0 (all pages) or more, got {src.max_pages}")
        val = cfg.train.val_pdf_root
        if val and src.root and _overlaps(Path(src.root), Path(val)):
            raise ConfigError(
                f"train.val_pdf_root: {val} overlaps data.sources[{i}].root {src.root}; validate on PDFs training never reads"
            )
    if m.neck == "squeeze" and d.image_size % 32:
        raise ConfigError(
            f"data.image_size: the squeeze neck needs a multiple of 32 (backbone stride), got {d.image_size}"
        )

    # The onnx section: names, shapes and dynamic axes must agree with each other and with the data.
    if not x.input_names or not x.output_names:
        raise ConfigError("onnx.input_names and onnx.output_names must not be empty")
    if len(x.input_names) != 1 or len(x.output_names) != 1:
        raise ConfigError("onnx: the embedding model has exactly one input and one output")
    if set(x.input_shape) != set(x.input_names):
        raise ConfigError(f"onnx.input_shape: keys {sorted(x.input_shape)} must equal onnx.input_names {x.input_names}")
    names = set(x.input_names) | set(x.output_names)
    for key in x.dynamic_axes:
        if key not in names:
            raise ConfigError(
                f"onnx.dynamic_axes: '{key}' is neither an input nor an output name "
                f"(inputs {x.input_names}, outputs {x.output_names})"
            )
    if x.options.opset_version < 18:
        raise ConfigError(
            f"onnx.options.opset_version: 18 or later (torch.onnx's exporter), got {x.options.opset_version}"
        )
    for name, spec in x.input_shape.items():
        expected = [3, d.image_size, d.image_size]
        if len(spec.shape) != 4 or spec.shape[1:] != expected:
            raise ConfigError(
                f"onnx.input_shape.{name}.shape: {spec.shape} does not match data.image_size "
                f"(expected [N, {', '.join(map(str, expected))}])"
            )
