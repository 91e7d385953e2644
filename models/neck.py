"""Embedding necks: last backbone feature map → embedding vector (before L2 normalisation)."""

from __future__ import annotations

import torch
from torch import nn


def _norm(kind: str, dim: int) -> nn.Module:
    return nn.LayerNorm(dim) if kind == "layernorm" else nn.BatchNorm1d(dim)


class SqueezeNeck(nn.Module):
    """The original DocClassifier's neck: it keeps the spatial layout of the feature map.

    1×1 conv squeezes channels → flatten (C·H·W, so *where* things are on the page counts) →
    Linear → norm → hard-swish → Linear → norm. Needs a fixed input size.
    """

    def __init__(
        self,
        in_channels: int,
        feature_hw: tuple[int, int],
        embed_dim: int,
        squeeze_channels: int = 32,
        hidden_dim: int = 512,
        norm: str = "layernorm",
        dropout: float = 0.0,
    ):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze_channels, 1)
        self.act = nn.Hardswish()
        self.flatten = nn.Flatten(1)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(squeeze_channels * feature_hw[0] * feature_hw[1], hidden_dim)
        self.norm1 = _norm(norm, hidden_dim)
        self.act1 = nn.Hardswish()
        self.fc2 = nn.Linear(hidden_dim, embed_dim)
        self.norm2 = _norm(norm, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.flatten(self.act(self.squeeze(x))))
        x = self.act1(self.norm1(self.fc1(x)))
        return self.norm2(self.fc2(x))


class PoolNeck(nn.Module):
    """Global average pool → Linear → norm: any input size, no spatial layout."""

    def __init__(self, in_channels: int, embed_dim: int, norm: str = "layernorm", dropout: float = 0.0):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, embed_dim)
        self.norm = _norm(norm, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.fc(self.dropout(x.mean((2, 3)))))
