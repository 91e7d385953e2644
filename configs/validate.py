"""Checks of a whole config that one key's type cannot express: ranges, keys that must agree with
each other (the ONNX input shape and the image size), paths that must not overlap. Each message
names the keys involved."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Any

from configs.schema import LCNET_WIDTHS, Config, ConfigError


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
    if not 0.0 <= m.sibling_margin < 1.0:
        raise ConfigError(f"model.sibling_margin: must be in [0, 1) (0: off), got {m.sibling_margin}")
    if m.sibling_margin and m.partial_fc:
        raise ConfigError("model.sibling_margin works with the plain head only: set model.partial_fc false")
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
