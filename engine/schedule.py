"""Learning rate as a pure function of the optimizer step: linear warm-up, then decay."""

from __future__ import annotations

import math


class WarmupDecay:
    """Multiplier on the peak lr at ``step`` (for ``torch.optim.lr_scheduler.LambdaLR``).

    A callable object rather than a closure so LambdaLR can save its settings in a checkpoint.
    """

    def __init__(
        self, total_steps: int, warmup_steps: int, kind: str = "cosine", min_ratio: float = 0.01, power: float = 2.0
    ):
        self.total_steps = max(1, total_steps)
        self.warmup_steps = warmup_steps
        self.kind = kind
        self.min_ratio = min_ratio
        self.power = power

    def set_total(self, total_steps: int) -> None:
        """Move the last step (a run fitted to a time budget does, as it measures its speed)."""
        self.total_steps = max(1, total_steps)

    def __call__(self, step: int) -> float:
        warmup = min(self.warmup_steps, self.total_steps)
        if step < warmup:
            return (step + 1) / warmup
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, self.total_steps - warmup))
        if self.kind == "cosine":
            decay = 0.5 * (1.0 + math.cos(math.pi * progress))
        else:  # poly
            decay = (1.0 - progress) ** self.power
        return self.min_ratio + (1.0 - self.min_ratio) * decay


def restore_lr(optimizer, scheduler, peak_lr: float, schedule: WarmupDecay, step: int) -> None:
    """After loading a checkpoint: make the learning rate the schedule's value at ``step`` for the
    current settings (the checkpoint's stored rate came from the settings it was trained with)."""
    scheduler.base_lrs = [peak_lr] * len(optimizer.param_groups)
    for group in optimizer.param_groups:
        group["initial_lr"] = peak_lr
        group["lr"] = peak_lr * schedule(step)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]
