"""Models from trained weights: the feature branch of a checkpoint (``embedding_model``, for export
and evaluation), and backbone and neck weights in a file of their own, what a training run can start
from (``model.init``).

    python -m engine.weights --ckpt runs/gpu96 --out assets/model.pt          # from a training checkpoint
    python -m engine.weights --onnx assets/model.onnx --out weights.pt        # from an exported graph

The file holds the backbone and neck tensors, the model and input settings they were trained with,
and a line saying where they came from; it loads with ``torch.load(weights_only=True)``. The margin
head is not in it: a run that starts from these weights trains a fresh head for its own classes.

An exported graph has lost its BatchNorm layers: the exporter folds each into the convolution
before it (weight and bias scaled). ``weights_from_onnx`` puts them back: the convolution gets the
folded weight, and its BatchNorm statistics and affine parameters are chosen so that the layer
computes the same function in eval mode (exactly) and, on batches like the ones measured, in train
mode (the batch's statistics are then close to the recorded ones). That is what fine-tuning from a
shipped ONNX model needs; the same model exported again matches the original graph.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from configs import Config, ConfigError, config_from_dict
from engine.checkpoint import (
    CheckpointError,
    body_weights,
    checkpoint_path,
    load_checkpoint,
    load_model_weights,
    save_atomic,
)
from models import EmbeddingModel, build_body

FORMAT = "docclassifier-weights/1"
# What `model.init: shipped` means: the default model's weights, beside assets/model.onnx.
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "model.pt"
# Keys of the config that decide the tensors' shapes and meaning: a run starting from the weights
# must agree on them (a squeeze neck trained at another input size is resampled to fit: init_from).
MUST_AGREE = ("backbone", "neck", "squeeze_channels", "hidden_dim", "neck_norm", "embed_dim")


def embedding_model(
    ckpt: dict[str, Any], path: str | Path, cfg: Config | None = None, raw: bool = False
) -> EmbeddingModel:
    """The feature branch (backbone + neck) of a checkpoint's model, in eval mode, with the weights
    ``body_weights(ckpt, raw)`` picks. Built from ``cfg``, by default the config the checkpoint was
    trained with; weights that do not fit it raise ``CheckpointError`` naming ``path``."""
    cfg = cfg if cfg is not None else config_from_dict(ckpt["config"])
    body = build_body(cfg.model, cfg.data.image_size)
    load_model_weights(body, body_weights(ckpt, raw), path)
    return EmbeddingModel.of(body).eval()


def resolve(init: str) -> Path:
    """``model.init``: ``shipped`` (the default model's weights) or a path."""
    return SHIPPED if init == "shipped" else Path(init)


def save_weights(body: nn.Module, cfg: Config, path: str | Path, source: str) -> None:
    """Write the backbone and neck of ``body`` (an ``EmbeddingBody``, or the ``EmbeddingModel`` on one)."""
    state = {k: v.detach().cpu().clone() for k, v in body.state_dict().items()}
    if not state or not all(k.startswith(("backbone.", "neck.")) for k in state):
        raise ValueError("save_weights takes the feature branch (backbone and neck) only")
    model = {k: v for k, v in asdict(cfg.model).items() if k not in ("init", "init_neck")}
    data = {k: getattr(cfg.data, k) for k in ("image_size", "channel_order", "mean", "std")}
    save_atomic({"format": FORMAT, "model": model, "data": data, "source": source, "state_dict": state}, path)


def load_weights(path: str | Path) -> dict[str, Any]:
    """A weights file, checked to be one (one-line ``CheckpointError`` naming the file otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - zip, pickle and refused-global errors alike: one line
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
        raise CheckpointError(f"{path}: not a readable weights file ({type(e).__name__}: {first[:160]})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a DocClassifier weights file (write one with python -m engine.weights)")
    return blob


def init_from(model: nn.Module, init: str, neck: bool = True) -> str:
    """Load ``model.init`` into the backbone and (with ``neck``) the neck of ``model`` (a
    ``DocClassifierNet``); the head keeps its fresh weights. Returns a line saying what was loaded.
    Tensors that do not fit raise ``CheckpointError`` naming them, in one line."""
    path = resolve(init)
    blob = load_weights(path)
    resampled = ""
    if neck:
        state = dict(blob["state_dict"])
        resampled = _fit_squeeze_neck(state, model.body.state_dict())
        load_model_weights(model.body, state, path)
    else:
        state = {k.removeprefix("backbone."): v for k, v in blob["state_dict"].items() if k.startswith("backbone.")}
        load_model_weights(model.body.backbone, state, path)
    parts = "backbone and neck" if neck else "backbone"
    fresh = "a fresh head" if neck else "a fresh neck and head"
    return f"{parts} from {path} ({blob.get('source', '')}){resampled}; {fresh}"


SQUEEZE_FC = "neck.fc1.weight"  # the squeeze neck's first Linear: squeeze channels × feature H × W in


def _fit_squeeze_neck(state: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]) -> str:
    """Weights of a squeeze neck trained at another input size, made to fit this one: the first
    Linear reads the feature map position by position (C·h·w inputs), so its weights are a map per
    hidden unit and channel, resampled (bilinear) from h × w to this model's H × W and scaled by
    h·w / H·W, so that a feature map's sum over positions weighs as it did. Every other neck tensor
    is independent of the input size. In place; returns what was done ("" when nothing was)."""
    if SQUEEZE_FC not in state or SQUEEZE_FC not in ours or "neck.squeeze.weight" not in ours:
        return ""
    theirs, mine = state[SQUEEZE_FC], ours[SQUEEZE_FC]
    channels = ours["neck.squeeze.weight"].shape[0]
    if theirs.shape == mine.shape or theirs.shape[0] != mine.shape[0]:
        return ""  # the same size, or a mismatch load_model_weights names

    def side(features: int) -> int | None:
        n = round(math.sqrt(features // channels))
        return n if n * n * channels == features else None

    h, H = side(theirs.shape[1]), side(mine.shape[1])
    if h is None or H is None:
        return ""
    grid = theirs.reshape(theirs.shape[0], channels, h, h)
    grid = torch.nn.functional.interpolate(grid, size=(H, H), mode="bilinear", align_corners=False)
    state[SQUEEZE_FC] = (grid * (h * h) / (H * H)).reshape(mine.shape).to(theirs.dtype)
    return f", its squeeze neck resampled from a {h}×{h} to a {H}×{H} feature map"


def check_fits(init: str, cfg: Config) -> None:
    """Refuse, in one line, weights trained with other model settings or another input size (for
    the backbone alone, with ``model.init_neck: false``, only the backbone must agree)."""
    path = resolve(init)
    blob = load_weights(path)
    theirs = {**blob["model"], **{f"data.{k}": v for k, v in blob["data"].items()}}
    ours = {**asdict(cfg.model), "data.image_size": cfg.data.image_size}
    # A squeeze neck of another input size is resampled to fit (init_from); a pooling one never depends on it.
    keys = [*MUST_AGREE] if cfg.model.init_neck else ["backbone"]
    diffs = [f"{k}={theirs.get(k)!r} (config: {ours[k]!r})" for k in keys if theirs.get(k) != ours[k]]
    if diffs:
        raise CheckpointError(f"{path}: weights do not fit the configured model: trained with " + "; ".join(diffs))


# --- From an exported graph ---------------------------------------------------------------------


def _conv_bn_pairs(body: nn.Module) -> list[tuple[str, nn.Conv2d, str | None, nn.BatchNorm2d | None]]:
    """Every conv of ``body`` with the BatchNorm that follows it in module order (None for a conv
    with its own bias, as the squeeze-excitation and neck ones, which the exporter leaves alone)."""
    modules = list(body.named_modules())
    pairs = []
    for i, (name, module) in enumerate(modules):
        if not isinstance(module, nn.Conv2d):
            continue
        if module.bias is not None:
            pairs.append((name, module, None, None))
            continue
        bn_name, bn = next(((n, m) for n, m in modules[i + 1 :] if isinstance(m, nn.BatchNorm2d)), (None, None))
        if bn is None:
            raise ValueError(f"conv {name} has no bias and no BatchNorm after it")
        pairs.append((name, module, bn_name, bn))
    return pairs


def _onnx_tensors(path: Path) -> tuple[dict[str, torch.Tensor], Config]:
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path))
    except Exception as e:  # noqa: BLE001 - protobuf and file errors alike: one line
        raise CheckpointError(f"{path}: not a readable ONNX file ({type(e).__name__})") from None
    meta = {p.key: p.value for p in graph.metadata_props}
    if "config_yaml" not in meta:
        raise CheckpointError(f"{path}: no config_yaml in its metadata (not written by export_onnx.py)")
    try:
        cfg = config_from_dict(yaml.safe_load(meta["config_yaml"]))
    except ConfigError as e:
        raise CheckpointError(f"{path}: its recorded config does not load ({e})") from None
    tensors = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.graph.initializer}
    return tensors, cfg


@torch.no_grad()
def weights_from_onnx(path: str | Path, images: Iterable[torch.Tensor]) -> tuple[nn.Module, Config]:
    """The feature branch of an exported graph as a trainable ``EmbeddingModel`` (eval mode), with
    its BatchNorm layers restored from the statistics of ``images`` (batches of model inputs)."""
    path = Path(path)
    tensors, cfg = _onnx_tensors(path)
    model = EmbeddingModel.of(build_body(cfg.model, cfg.data.image_size)).eval()
    used: set[str] = set()

    def take(name: str, like: torch.Tensor) -> torch.Tensor:
        if name not in tensors:
            raise CheckpointError(f"{path}: the graph has no tensor {name} (not this project's architecture)")
        if tensors[name].shape != like.shape:
            raise CheckpointError(
                f"{path}: {name} is {tuple(tensors[name].shape)} in the graph, {tuple(like.shape)} here"
            )
        used.add(name)
        return tensors[name].to(like.dtype)

    pairs = _conv_bn_pairs(model)
    folded_bias = {}
    for name, conv, _, bn in pairs:
        conv.weight.copy_(take(f"{name}.weight", conv.weight))
        if bn is None:
            conv.bias.copy_(take(f"{name}.bias", conv.bias))
        else:  # first the identity: eval-mode BN that adds the folded bias and nothing else
            folded_bias[name] = take(f"{name}.weight_bias", bn.bias)
            bn.weight.fill_(1.0)
            bn.bias.copy_(folded_bias[name])
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    restored = {n for n, _, bn_name, _ in pairs} | {bn_name for *_, bn_name, _ in pairs if bn_name}
    for name, module in model.named_modules():
        if name in restored or not list(module.parameters(recurse=False)):
            continue
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise CheckpointError(
                f"{path}: {name} is a BatchNorm the exporter folded into a linear layer; not recoverable"
            )
        for pname, param in module.named_parameters(recurse=False):
            param.copy_(take(f"{name}.{pname}", param))
    left = [n for n in tensors if n not in used and n.startswith(("backbone.", "neck."))]
    if left:
        raise CheckpointError(f"{path}: {len(left)} tensors of the graph fit no weight here (e.g. {left[0]})")

    # Statistics of each bias-free conv's output over the images, through the identity model.
    sums: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for name, conv, _, bn in pairs:
        if bn is not None:

            def record(_m, _i, out, name=name):
                flat = out.double().transpose(0, 1).reshape(out.shape[1], -1)
                s = sums.setdefault(name, [torch.zeros(out.shape[1], dtype=torch.float64)] * 2 + [0])
                sums[name] = [s[0] + flat.sum(1), s[1] + (flat * flat).sum(1), s[2] + flat.shape[1]]

            hooks.append(conv.register_forward_hook(record))
    for batch in images:
        model(batch)
    for h in hooks:
        h.remove()
    if not sums:
        raise ValueError("weights_from_onnx needs at least one batch of images")
    for name, _, _, bn in pairs:
        if bn is None:
            continue
        total, squares, n = sums[name]
        mean = total / n
        std = (squares / n - mean * mean).clamp_min(0).sqrt().clamp_min(1e-2)
        # eval: (z - mean) / std * std + mean + b = z + b, the folded layer, for any z
        bn.running_mean.copy_(mean.float())
        bn.running_var.copy_((std * std - bn.eps).float())
        bn.weight.copy_(std.float())
        bn.bias.copy_((mean + folded_bias[name].double()).float())
    return model, cfg


def calibration_images(cfg: Config, count: int = 512, batch: int = 128, seed: int = 0) -> Iterable[torch.Tensor]:
    """Augmented synthetic training images in the model's input format (the generator ships with
    the project, so recovering weights needs no data files)."""
    from data import build_train_dataset

    data = config_from_dict({**asdict(cfg), "data": {**asdict(cfg.data), "sources": [{"kind": "synthetic"}]}}).data
    data.synthetic.num_classes = max(count // 4, 1)
    data.synthetic.samples_per_class = 4
    dataset = build_train_dataset(data, seed=seed)
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    for start in range(0, len(order), batch):
        yield torch.stack([dataset[i][0] for i in order[start : start + batch]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--ckpt", help="training checkpoint or run folder (its moving average where it kept one)")
    group.add_argument("--onnx", help="a graph written by export_onnx.py")
    parser.add_argument("--out", required=True, help="weights file to write")
    parser.add_argument("--images", type=int, default=512, help="--onnx: images to measure BatchNorm statistics on")
    args = parser.parse_args(argv)
    try:
        if args.ckpt:
            path = checkpoint_path(args.ckpt)
            ckpt = load_checkpoint(path)
            cfg = config_from_dict(ckpt["config"])
            body = embedding_model(ckpt, path, cfg)
            source = f"{path}, step {ckpt['step']}"
        else:
            _, cfg = _onnx_tensors(Path(args.onnx))
            body, cfg = weights_from_onnx(args.onnx, calibration_images(cfg, args.images))
            source = f"recovered from {args.onnx}"
        save_weights(body, cfg, args.out, source)
    except (CheckpointError, ConfigError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {sum(v.numel() for v in body.state_dict().values()):,} values ({source})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
