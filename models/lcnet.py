"""PP-LCNet (Cui et al. 2021, "PP-LCNet: A Lightweight CPU Convolutional Neural Network").

Depthwise-separable blocks with hard-swish, 5×5 depthwise kernels in the late stages and
squeeze-excitation in the last stage. Module and parameter names follow timm's ``lcnet_*`` models
(``conv_stem``, ``bn1``, ``blocks.S.B.{conv_dw,bn1,se,conv_pw,bn2}``, ``conv_head``, ``classifier``)
so that a timm state_dict loads here unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# (kernel, stride, out_channels at width 1.0, squeeze-excitation) per block, grouped by stage.
LCNET_STAGES: list[list[tuple[int, int, int, bool]]] = [
    [(3, 1, 32, False)],
    [(3, 2, 64, False), (3, 1, 64, False)],
    [(3, 2, 128, False), (3, 1, 128, False)],
    [(3, 2, 256, False), (5, 1, 256, False)],
    [(5, 1, 256, False)] * 4,
    [(5, 2, 512, True), (5, 1, 512, True)],
]
STEM_CHANNELS = 16
HEAD_FEATURES = 1280


def make_divisible(value: float, divisor: int = 8, round_limit: float = 0.9) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never more than 10% below ``value``."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < round_limit * value:
        new += divisor
    return new


class BatchNormAct2d(nn.BatchNorm2d):
    """BatchNorm followed by an activation, one module (so parameter names stay ``bnX.weight``)."""

    def __init__(self, num_features: int, act: bool = True):
        super().__init__(num_features)
        self.act = nn.Hardswish() if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, ratio: float = 0.25):
        super().__init__()
        reduced = round(channels * ratio)
        self.conv_reduce = nn.Conv2d(channels, reduced, 1)
        self.act1 = nn.ReLU(inplace=True)
        self.conv_expand = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * self.gate(s)


class DepthwiseSeparable(nn.Module):
    """dw k×k conv → BN+hswish → [SE] → pw 1×1 conv → BN+hswish. No residual (as in PP-LCNet)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, se: bool):
        super().__init__()
        self.conv_dw = nn.Conv2d(in_ch, in_ch, kernel, stride, kernel // 2, groups=in_ch, bias=False)
        self.bn1 = BatchNormAct2d(in_ch)
        self.se = SqueezeExcite(in_ch) if se else nn.Identity()
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn2 = BatchNormAct2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_pw(self.se(self.bn1(self.conv_dw(x)))))


class LCNet(nn.Module):
    """PP-LCNet at width multiplier ``width``.

    ``num_classes=0`` builds the feature extractor only (no ``conv_head``/``classifier``, as timm's
    ``features_only``); ``forward_features`` returns the last feature map at stride 32 either way.
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        self.width = width
        stem = make_divisible(STEM_CHANNELS * width)
        self.conv_stem = nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False)
        self.bn1 = BatchNormAct2d(stem)

        stages, in_ch, self.stage_channels = [], stem, []
        for stage in LCNET_STAGES:
            blocks = []
            for kernel, stride, out, se in stage:
                out_ch = make_divisible(out * width)
                blocks.append(DepthwiseSeparable(in_ch, out_ch, kernel, stride, se))
                in_ch = out_ch
            stages.append(nn.Sequential(*blocks))
            self.stage_channels.append(in_ch)
        self.blocks = nn.Sequential(*stages)
        self.num_features = in_ch  # channels of forward_features' output

        self.num_classes = num_classes
        if num_classes > 0:
            self.conv_head = nn.Conv2d(in_ch, HEAD_FEATURES, 1)
            self.act2 = nn.Hardswish()
            self.classifier = nn.Linear(HEAD_FEATURES, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He init on fan-out per group (as timm's EfficientNet family): PyTorch's own
                # fan_out counts every channel of a depthwise conv and starts it ~√C too small.
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
                nn.init.normal_(m.weight, std=math.sqrt(2.0 / fan_out))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of every stage (strides 2, 4, 8, 16, 16, 32)."""
        x = self.bn1(self.conv_stem(x))
        outs = []
        for stage in self.blocks:
            x = stage(x)
            outs.append(x)
        return outs

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        if self.num_classes == 0:
            return x
        x = self.act2(self.conv_head(x.mean((2, 3), keepdim=True)))
        return self.classifier(x.flatten(1))


def lcnet(name: str, **kwargs) -> LCNet:
    """``lcnet("lcnet_050")`` → LCNet at width 0.5 (widths 025, 035, 050, 075, 100, 150, 200)."""
    from configs import LCNET_WIDTHS

    suffix = name.removeprefix("lcnet_")
    if suffix not in LCNET_WIDTHS:
        raise ValueError(f"unknown LCNet '{name}' (known: {', '.join('lcnet_' + w for w in LCNET_WIDTHS)})")
    return LCNet(LCNET_WIDTHS[suffix], **kwargs)
