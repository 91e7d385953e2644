"""Models: the body (backbone → neck), a margin head for training, the normalised body export traces."""

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
    "build_body",
    "build_head",
    "build_margin",
    "build_model",
    "lcnet",
]


class EmbeddingBody(nn.Module):
    """backbone → neck: the feature branch, one module wherever it is used. The training model runs
    its margin head on this module's output (unnormalised: the head normalises), DDP trains it as
    part of that model, the weight average keeps a copy of it, and export traces it with the L2
    normalisation on top (``EmbeddingModel``)."""

    def __init__(self, backbone: nn.Module, neck: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(images))


class EmbeddingModel(EmbeddingBody):
    """The inference branch, and the graph export traces: a body's embedding, L2-normalised. Built on
    a body's own backbone and neck (``EmbeddingModel.of``), so it shares their weights, their mode and
    their names (``backbone.*``, ``neck.*``: the tensor names of the ONNX graph and weights files)."""

    @classmethod
    def of(cls, body: EmbeddingBody) -> EmbeddingModel:
        return cls(body.backbone, body.neck).train(body.training)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(super().forward(images).float(), dim=1)


class DocClassifierNet(nn.Module):
    """Training module: the body (backbone → neck), then a margin head:
    ``net(images, labels) -> (loss, correct)`` whatever the head (``MarginHead``, or ``PartialFC``
    holding this rank's shard of the class centres). One module, wrapped once in DDP (a sharded
    head's parameters left out of it: ``sharded_parameters``).
    """

    def __init__(self, body: EmbeddingBody, head: MarginHead | PartialFC):
        super().__init__()
        self.body = body
        self.head = head

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.body(images), labels)

    def embedding_model(self) -> EmbeddingModel:
        return EmbeddingModel.of(self.body)

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


def build_body(model_cfg, image_size: int) -> EmbeddingBody:
    """The feature branch of a ``ModelConfig`` (see configs/schema.py) for ``image_size`` inputs."""
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
    return EmbeddingBody(backbone, neck)


def build_model(model_cfg, image_size: int, num_classes: int, families=None) -> DocClassifierNet:
    """The training module of a ``ModelConfig``: its body and a margin head for ``num_classes``
    (``families``: each class's family id, which ``model.sibling_margin`` needs)."""
    body = build_body(model_cfg, image_size)
    rule = build_margin(model_cfg.head, model_cfg.margin)
    if model_cfg.partial_fc:  # sharded over the ranks of the initialised process group, if any
        head = PartialFC(model_cfg.embed_dim, num_classes, rule, model_cfg.scale, model_cfg.sample_rate)
    else:
        head = MarginHead(model_cfg.embed_dim, num_classes, rule, model_cfg.scale, model_cfg.sibling_margin, families)
    return DocClassifierNet(body, head)
