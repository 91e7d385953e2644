"""Models: backbone → neck → embedding, a margin head for training, the wrapper that export traces."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from models.backbone import TimmBackbone, build_backbone
from models.heads import ArcFace, CosFace, MarginHead, NoMargin, build_head, build_margin
from models.lcnet import LCNet, lcnet
from models.neck import PoolNeck, SqueezeNeck
from models.partial_fc import PartialFC

__all__ = [
    "ArcFace",
    "CosFace",
    "DocClassifierNet",
    "EmbeddingBody",
    "EmbeddingModel",
    "LCNet",
    "MarginHead",
    "NoMargin",
    "PartialFC",
    "PoolNeck",
    "SqueezeNeck",
    "TimmBackbone",
    "build_backbone",
    "build_head",
    "build_margin",
    "build_model",
    "lcnet",
]


class EmbeddingModel(nn.Module):
    """The inference branch, and the graph export traces: backbone → neck → L2-normalised embedding."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.neck(self.backbone(img)).float(), dim=1)


class EmbeddingBody(nn.Module):
    """backbone → neck, unnormalised: what the margin head sees. With a sharded head (PartialFC),
    whose rows differ from rank to rank, DDP wraps this alone and the head stays outside."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(images))


class DocClassifierNet(nn.Module):
    """Training module: backbone → neck → embedding, then a margin head:
    ``net(images, labels) -> (loss, correct)`` whatever the head (``MarginHead``, or ``PartialFC``
    holding this rank's shard of the class centres).

    One module, wrapped once in DDP (a sharded head's parameters left out of it:
    ``sharded_parameters``); ``embedding_model()`` and ``body()`` share its backbone and neck.
    """

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: MarginHead | PartialFC):
        super().__init__()
        self.backbone = backbone
        self.neck = neck
        self.head = head

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised embedding (what the head sees)."""
        return self.neck(self.backbone(images))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.embed(images), labels)

    def embedding_model(self) -> EmbeddingModel:
        return EmbeddingModel(self.backbone, self.neck)

    def body(self) -> EmbeddingBody:
        return EmbeddingBody(self.backbone, self.neck)

    def sharded_parameters(self) -> dict[str, nn.Parameter]:
        """Parameters whose values differ from rank to rank (a sharded head's rows), by name: DDP
        must neither broadcast nor average them, and the gradient norm sums them over ranks."""
        if not self.head.sharded:
            return {}
        return {f"head.{name}": p for name, p in self.head.named_parameters()}

    def parameter_count(self) -> int:
        """Parameters of the whole model, every class centre counted once however they are sharded."""
        head = sum(p.numel() for p in self.head.parameters())
        return sum(p.numel() for p in self.parameters()) - head + self.head.num_classes * self.head.weight.shape[1]


@torch.no_grad()
def _feature_shape(backbone: nn.Module, image_size: int) -> tuple[int, int, int]:
    was_training = backbone.training
    backbone.eval()  # a dry run must not touch BatchNorm statistics
    out = backbone(torch.zeros(1, 3, image_size, image_size))
    backbone.train(was_training)
    if out.ndim != 4:
        raise ValueError(f"backbone output has shape {tuple(out.shape)}; the necks need (N, C, H, W)")
    return tuple(out.shape[1:])


def build_model(model_cfg, image_size: int, num_classes: int) -> DocClassifierNet:
    """Build the training module from a ``ModelConfig`` (see configs/schema.py)."""
    backbone = build_backbone(model_cfg.backbone)
    channels, h, w = _feature_shape(backbone, image_size)
    if model_cfg.neck == "squeeze":
        neck = SqueezeNeck(
            channels,
            (h, w),
            model_cfg.embed_dim,
            squeeze_channels=model_cfg.squeeze_channels,
            hidden_dim=model_cfg.hidden_dim,
            norm=model_cfg.neck_norm,
            dropout=model_cfg.dropout,
        )
    else:
        neck = PoolNeck(channels, model_cfg.embed_dim, norm=model_cfg.neck_norm, dropout=model_cfg.dropout)
    rule = build_margin(model_cfg.head, model_cfg.margin)
    if model_cfg.partial_fc:  # sharded over the ranks of the initialised process group, if any
        head = PartialFC(model_cfg.embed_dim, num_classes, rule, model_cfg.scale, model_cfg.sample_rate)
    else:
        head = MarginHead(model_cfg.embed_dim, num_classes, rule, model_cfg.scale)
    return DocClassifierNet(backbone, neck, head)
