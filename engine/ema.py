"""An exponential moving average of the embedding branch's weights (what export and eval read).

After each optimizer step ``w_ema ← d·w_ema + (1 − d)·w`` for every floating-point parameter and
buffer (BatchNorm running statistics included; integer buffers are copied), with
``d = min(decay, (1 + t) / (10 + t))`` at step ``t``: the average covers about the last ``t / 9``
steps early on, and at most the last ``1 / (1 − decay)`` (TensorFlow's ``num_updates`` warm-up).
Only the backbone and neck are averaged: the margin head is not exported, and a PartialFC head's
rows differ from rank to rank.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightEMA:
    def __init__(self, module: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self._pairs = self._split(module)

    def _split(self, source: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor], list, list]:
        ours, theirs = self.module.state_dict(keep_vars=True), source.state_dict(keep_vars=True)
        if ours.keys() != theirs.keys():
            raise ValueError("the EMA and the model it follows have different weights")
        floats = [k for k in ours if ours[k].is_floating_point()]
        others = [k for k in ours if not ours[k].is_floating_point()]
        return (
            [ours[k].data for k in floats],
            [theirs[k].data for k in floats],
            [ours[k].data for k in others],
            [theirs[k].data for k in others],
        )

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the followed module's weights after optimizer step ``step`` (1 for the first)."""
        ema_f, model_f, ema_i, model_i = self._pairs
        torch._foreach_lerp_(ema_f, model_f, 1.0 - self.decay_at(step))
        for e, m in zip(ema_i, model_i, strict=True):
            e.copy_(m)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The averaged weights, under the followed module's own names."""
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state)
