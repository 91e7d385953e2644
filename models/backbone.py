"""Backbones: our PP-LCNet, or any timm model as ``timm:<name>`` (offline, no pretrained weights)."""

from __future__ import annotations

import torch
from torch import nn

from models.lcnet import lcnet


class TimmBackbone(nn.Module):
    """A timm model's last feature map (features_only, falling back to forward_features)."""

    def __init__(self, name: str):
        super().__init__()
        import timm  # only needed for this option

        try:
            self.model = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
            self.features_only = True
            self.num_features = self.model.feature_info.channels()[-1]
        except (RuntimeError, AssertionError, TypeError):
            self.model = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
            self.features_only = False
            self.num_features = self.model.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.features_only:
            return self.model(x)[-1]
        return self.model.forward_features(x)


def build_backbone(name: str) -> nn.Module:
    """The module maps images (N, 3, H, W) to a feature map (N, C, h, w); ``num_features`` is C."""
    if name.startswith("timm:"):
        return TimmBackbone(name.removeprefix("timm:"))
    return lcnet(name, num_classes=0)
