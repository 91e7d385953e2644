"""The one config schema: dataclasses loaded from YAML and overridden from the command line.

Every key has a type; unknown or misspelt keys and values of the wrong type are rejected with the
key's dotted name, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import yaml


class ConfigError(ValueError):
    """A config file or override that does not fit the schema (message names the key)."""


# LCNet widths by name (lcnet_050: 0.5): what a ``model.backbone`` name may say. Here rather than
# under models/ because checking a config must not import torch (models/lcnet.py reads it).
LCNET_WIDTHS = {"025": 0.25, "035": 0.35, "050": 0.5, "075": 0.75, "100": 1.0, "150": 1.5, "200": 2.0}


@dataclass
class ModelConfig:
    # "lcnet_025" … "lcnet_200" (PP-LCNet written in this repo) or "timm:<name>" (any timm model).
    backbone: str = "lcnet_050"
    # "squeeze": 1×1 conv → flatten → Linear → norm → Linear → norm (the original's neck; needs a
    # fixed input size). "pool": global average pool → Linear → norm (any input size).
    neck: Literal["squeeze", "pool"] = "squeeze"
    squeeze_channels: int = 32
    hidden_dim: int = 512
    neck_norm: Literal["layernorm", "batchnorm"] = "layernorm"
    embed_dim: int = 128
    dropout: float = 0.0
    head: Literal["cosface", "arcface", "softmax"] = "cosface"
    scale: float = 64.0
    margin: float = 0.4
    # Hard-negative margin: added to the cosines of each sample's look-alike siblings (the other
    # classes of its family: a synthetic family, the pages of one document) in the softmax, so
    # training keeps separating them after the plain margin is met. 0: off. Plain head only.
    sibling_margin: float = 0.0
    # PartialFC: each DDP rank holds num_classes / ranks of the class centres (and their optimizer
    # state) and the softmax normaliser is summed across ranks; for hundreds of thousands of classes
    # and more. The same loss and gradients as the plain head at sample_rate 1.
    partial_fc: bool = False
    # partial_fc only: besides the classes of the global batch, score this share of each rank's
    # other classes per step (at random); 1 scores all of them.
    sample_rate: float = 1.0
    # Start from these backbone and neck weights instead of random ones (a file written by
    # `python -m engine.weights`, or "shipped": the default model's, assets/model.pt); the margin
    # head starts fresh for this run's classes. Read when a run starts, not on resume.
    init: str = ""
    # With model.init: false loads the backbone only, and the neck starts fresh too (for another
    # input size, neck or embedding size than the weights were trained with).
    init_neck: bool = True


@dataclass
class SyntheticConfig:
    num_classes: int = 1000  # document templates; each is one class
    samples_per_class: int = 8  # images per template per epoch
    seed: int = 0  # templates are a pure function of this seed and the class id
    # Look-alike siblings per family (same layout in another palette or issuer, one or two layout
    # elements changed, a fresh design of the kind), each its own class; 1: every template independent.
    family_size: int = 4
    # Typefaces: auto (TrueType/OpenType families installed here, those kept for evaluation left out;
    # Pillow's built-in font when there are none), builtin, or a folder of font files.
    fonts: str = "auto"


@dataclass
class SourceConfig:
    # synthetic: document templates rendered in memory (settings in data.synthetic);
    # folder: images under root, a class per sub-folder (or per image, class_per_image);
    # pdf: every page of every PDF under root is a class (rendered once, cached in cache_dir).
    kind: Literal["synthetic", "folder", "pdf"] = "synthetic"
    root: str = ""
    weight: float = 1.0  # share of each epoch, relative to the other sources
    expand: bool = False  # ×24 classes: 4 rotations × mirror × full/top/bottom half
    class_per_image: bool = False  # folder only
    cache_dir: str = "data_cache"  # pdf: rendered pages; folder: the memory-mapped file index ("": none)
    # folder only: full-size images (photos, scans, PDF pages) decoded once and kept in cache_dir at
    # 2.5 × the training size (raw arrays, about 0.4 MB a page at 128 px); false: decode each read
    decoded_cache: bool = True
    max_pages: int = 0  # pdf only: at most this many pages per file, evenly spread (0 = all)


@dataclass
class DataConfig:
    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig()])
    image_size: int = 96
    # Preprocessing that export and inference must reproduce exactly.
    channel_order: Literal["RGB"] = "RGB"
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    augment: Literal["none", "light", "medium", "strong"] = "medium"
    # Chance of a grey, sepia or inverted tone per image; None: the augment strength's own (medium
    # 0.15). A tone teaches invariance to palette, which is what tells some look-alike types apart.
    tone_p: Optional[float] = None
    # Keep the page's aspect: pad each image to a square of its border's colour before resizing
    # (a portrait page and a landscape card keep their shapes), in training, export and infer.py.
    letterbox: bool = False
    num_workers: int = 2
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class OptimConfig:
    name: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-3  # peak learning rate
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD only
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # AdamW only
    schedule: Literal["cosine", "poly", "constant"] = "cosine"
    warmup_steps: int = 500
    min_lr_ratio: float = 0.01  # final lr = lr * min_lr_ratio
    poly_power: float = 2.0
    grad_clip: float = 5.0  # max global grad norm; 0 turns clipping off


@dataclass
class TrainConfig:
    epochs: int = 30
    max_steps: int = 0  # >0: train this many optimizer steps in all (the schedule fits them)
    stop_after_steps: int = 0  # >0: end this invocation at that step, schedule unchanged; resume later
    # >0: end within this many minutes of wall time (resumed invocations counted together): the run
    # measures its speed and moves the schedule's last step to where the time runs out, so the lr
    # still decays to its floor (engine/budget.py). max_steps / epochs stay the upper bound.
    time_budget_min: float = 0.0
    batch_size: int = 128  # per process, per micro-step
    grad_accum: int = 1
    amp: Literal["bf16", "fp16", "off"] = "bf16"
    seed: int = 42
    compile: bool = False
    channels_last: Optional[bool] = None  # None: on (faster on CUDA and on CPU); false turns it off
    device: Literal["auto", "cpu", "cuda"] = "auto"
    output_dir: str = "runs"
    ckpt_every_steps: int = 500
    log_every_steps: int = 10
    # Also log every figure of metrics.jsonl to TensorBoard, in <run>/tensorboard (needs the
    # tensorboard package; `python -m engine.plot RUN` draws the same curves without it).
    tensorboard: bool = False
    # A step whose gradients are not finite (fp16 overflow, a bad batch) is skipped and counted
    # (skipped_steps in metrics.jsonl); this many in a row stop the run. 0: never stop.
    max_nonfinite_steps: int = 20
    # Validation on held-out synthetic templates (never the reporting set): every N steps and at the
    # end; 0 turns it off. Logged to metrics.jsonl as val_top1, val_auc, val_tpr@1e-2, val_tpr@1e-3.
    val_every_steps: int = 0
    val_types: int = 100
    val_pdf_root: str = ""  # also validate on pages of the PDFs here (never a training folder)
    # >0: keep an exponential moving average of the backbone and neck weights with this decay (e.g.
    # 0.999; engine/ema.py); checkpoints hold it, validation reports it as val_ema_*, and export_onnx.py
    # and eval.py use it unless told --raw-weights. 0: off.
    ema_decay: float = 0.0


@dataclass
class OnnxInput:
    shape: list[int] = field(default_factory=lambda: [1, 3, 96, 96])
    dtype: Literal["float32"] = "float32"


@dataclass
class OnnxOptions:
    opset_version: int = 18  # torch.onnx's exporter (dynamo) targets opset 18 and later
    verbose: bool = False
    do_constant_folding: bool = True


@dataclass
class OnnxConfig:
    name: str = "EmbeddingModel"  # the wrapper that is exported (models.EmbeddingModel)
    input_shape: dict[str, OnnxInput] = field(default_factory=lambda: {"img": OnnxInput()})
    input_names: list[str] = field(default_factory=lambda: ["img"])
    output_names: list[str] = field(default_factory=lambda: ["feats"])
    dynamic_axes: dict[str, dict[int, str]] = field(
        default_factory=lambda: {"img": {0: "batch_size"}, "feats": {0: "batch_size"}}
    )
    options: OnnxOptions = field(default_factory=OnnxOptions)
    export_dir: str = "exports"  # export_onnx.py writes <export_dir>/<name>.onnx unless --out is given


@dataclass
class Config:
    name: str = "default"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    onnx: OnnxConfig = field(default_factory=OnnxConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)
