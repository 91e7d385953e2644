"""Margin heads: class centres as a (num_classes, embed_dim) weight, logits = s · margin(cos θ).

Logits are computed in fp32 even under autocast: cosines near ±1 and a scale of 64 leave no room
for bf16's 8-bit mantissa.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

INIT_CHUNK_ROWS = 1 << 16


@torch.no_grad()
def init_class_centres_(weight: torch.Tensor, start: int = 0, num_classes: int | None = None, std: float = 0.01):
    """Fill ``weight`` with rows ``start`` … of a (num_classes, D) N(0, std²) matrix drawn from the
    global RNG in fixed chunks of rows: a process holding all the rows and a rank holding a shard
    get the same numbers, and the whole matrix is never in memory at once. (Up to 65,536 classes
    this is one ``normal_`` of the whole matrix.)"""
    num_classes = len(weight) if num_classes is None else num_classes
    end = start + len(weight)
    for lo in range(0, min(num_classes, end), INIT_CHUNK_ROWS):
        hi = min(lo + INIT_CHUNK_ROWS, num_classes)
        chunk = torch.empty(hi - lo, weight.shape[1]).normal_(0.0, std)
        a, b = max(lo, start), min(hi, end)
        if a < b:
            weight[a - start : b - start] = chunk[a - lo : b - lo]


class NormSoftmaxHead(nn.Module):
    """Normalised softmax: logits = s · cos θ (no margin)."""

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 64.0):
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        init_class_centres_(self.weight)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def apply_margin(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cos

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(embeddings.device.type, enabled=False):
            cos = self.cosine(embeddings)
            if labels is not None:
                cos = self.apply_margin(cos, labels)
            return self.scale * cos

    def extra_repr(self) -> str:
        n, d = self.weight.shape
        return f"embed_dim={d}, num_classes={n}, scale={self.scale}"


class CosFaceHead(NormSoftmaxHead):
    """CosFace (Wang et al. 2018): target logit s · (cos θ − m)."""

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 64.0, margin: float = 0.4):
        super().__init__(embed_dim, num_classes, scale)
        self.margin = margin

    def apply_margin(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cos - self.margin * F.one_hot(labels, cos.shape[1]).to(cos.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", margin={self.margin}"


class ArcFaceHead(NormSoftmaxHead):
    """ArcFace (Deng et al. 2019): target logit s · cos(θ + m).

    Past θ = π − m, cos(θ + m) would rise again; there the target logit continues as
    cos θ − m·sin m, which keeps it decreasing in θ (insightface's non-"easy" margin).
    """

    def __init__(self, embed_dim: int, num_classes: int, scale: float = 64.0, margin: float = 0.5):
        super().__init__(embed_dim, num_classes, scale)
        self.margin = margin
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        self.threshold = math.cos(math.pi - margin)
        self.fallback = math.sin(math.pi - margin) * margin

    def apply_margin(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = cos.gather(1, labels[:, None])
        sin = torch.sqrt((1.0 - target * target).clamp(min=0.0))
        shifted = target * self.cos_m - sin * self.sin_m
        shifted = torch.where(target > self.threshold, shifted, target - self.fallback)
        return cos.scatter(1, labels[:, None], shifted)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", margin={self.margin}"


def build_head(kind: str, embed_dim: int, num_classes: int, scale: float, margin: float) -> NormSoftmaxHead:
    if kind == "cosface":
        return CosFaceHead(embed_dim, num_classes, scale, margin)
    if kind == "arcface":
        return ArcFaceHead(embed_dim, num_classes, scale, margin)
    if kind == "softmax":
        return NormSoftmaxHead(embed_dim, num_classes, scale)
    raise ValueError(f"unknown head '{kind}' (cosface, arcface, softmax)")
