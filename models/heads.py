"""Margin heads: class centres as a (num_classes, embed_dim) weight and a weightless margin rule,
logits = s · rule(cos θ); a head answers ``(embeddings, labels) -> (loss, correct)``.

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


# ---- margin rules: weightless, (cosines, labels) → cosines with each row's true class shifted


class NoMargin:
    """Normalised softmax: logits = s · cos θ."""

    margin = 0.0

    def __call__(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cos

    def __repr__(self) -> str:
        return "NoMargin()"


class CosFace:
    """CosFace (Wang et al. 2018): target logit s · (cos θ − m)."""

    def __init__(self, margin: float = 0.4):
        self.margin = margin

    def __call__(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return cos - self.margin * F.one_hot(labels, cos.shape[1]).to(cos.dtype)

    def __repr__(self) -> str:
        return f"CosFace(margin={self.margin})"


class ArcFace:
    """ArcFace (Deng et al. 2019): target logit s · cos(θ + m).

    Past θ = π − m, cos(θ + m) would rise again; there the target logit continues as
    cos θ − m·sin m, which keeps it decreasing in θ (insightface's non-"easy" margin).
    """

    def __init__(self, margin: float = 0.5):
        self.margin = margin
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        self.threshold = math.cos(math.pi - margin)
        self.fallback = math.sin(math.pi - margin) * margin

    def __call__(self, cos: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        target = cos.gather(1, labels[:, None])
        sin = torch.sqrt((1.0 - target * target).clamp(min=0.0))
        shifted = target * self.cos_m - sin * self.sin_m
        shifted = torch.where(target > self.threshold, shifted, target - self.fallback)
        return cos.scatter(1, labels[:, None], shifted)

    def __repr__(self) -> str:
        return f"ArcFace(margin={self.margin})"


def build_margin(kind: str, margin: float) -> NoMargin | CosFace | ArcFace:
    if kind == "cosface":
        return CosFace(margin)
    if kind == "arcface":
        return ArcFace(margin)
    if kind == "softmax":
        return NoMargin()
    raise ValueError(f"unknown head '{kind}' (cosface, arcface, softmax)")


# ---- the head: class centres and a rule


class MarginHead(nn.Module):
    """Every class centre on every rank: ``head(embeddings, labels) -> (loss, correct)``, the mean
    margin-softmax cross-entropy and how many rows have their class as the top logit.

    Under DDP it is averaged with the body like any replicated parameter. ``PartialFC``
    (models/partial_fc.py) answers the same call and the same checkpoint methods with a shard of the
    centres per rank, so training code never asks which head it has.
    """

    sharded = False  # the centres' rows are the same on every rank

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        rule=None,
        scale: float = 64.0,
        sibling_margin: float = 0.0,
        families=None,  # (num_classes,) family ids, any array-like
    ):
        super().__init__()
        self.rule = rule if rule is not None else NoMargin()
        self.scale = scale
        self.num_classes = num_classes
        self.weight = nn.Parameter(torch.empty(num_classes, embed_dim))
        init_class_centres_(self.weight)
        # Hard-negative margin: a row's look-alike siblings (the other classes of its family) get
        # ``sibling_margin`` added to their cosines, so the loss keeps pushing them apart after the
        # plain margin is met. Family ids come from the data each run (not kept in checkpoints).
        self.sibling_margin = sibling_margin
        if sibling_margin and families is None:
            raise ValueError("a sibling margin needs the classes' family ids")
        if families is not None and len(families) != num_classes:
            raise ValueError(f"family ids for {len(families)} classes, the head has {num_classes}")
        self.register_buffer("families", None if families is None else torch.as_tensor(families), persistent=False)

    def siblings(self, labels: torch.Tensor) -> torch.Tensor:
        """(rows × classes) bool: the classes of each row's family other than its own."""
        mask = self.families[None, :] == self.families[labels][:, None]
        return mask.scatter_(1, labels[:, None], False)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings.float(), dim=1), F.normalize(self.weight.float(), dim=1))

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """fp32 logits s · cos θ, with the margin on each row's class when ``labels`` are given."""
        with torch.autocast(embeddings.device.type, enabled=False):
            cos = self.cosine(embeddings)
            if labels is not None:
                cos = self.rule(cos, labels)
                if self.sibling_margin:
                    cos = cos + self.sibling_margin * self.siblings(labels).to(cos.dtype)
            return self.scale * cos

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(embeddings.device.type, enabled=False):
            logits = self.logits(embeddings, labels)
            return F.cross_entropy(logits, labels), (logits.argmax(1) == labels).sum()

    # A checkpoint holds all classes' rows and their optimizer state, whatever the head.

    def full_weight(self, dst: int | None = None) -> torch.Tensor:
        return self.weight.detach()

    def shard_rows(self, full: torch.Tensor) -> torch.Tensor:
        return full

    def full_optimizer_state(self, optimizer: torch.optim.Optimizer, dst: int | None = None) -> dict:
        return optimizer.state_dict()

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        optimizer.load_state_dict(state)

    def describe(self) -> str:
        """What a run's first line says of the head beyond its class count."""
        if not self.sibling_margin:
            return ""
        return f" (sibling margin {self.sibling_margin} within {len(torch.unique(self.families))} families)"

    def extra_repr(self) -> str:
        n, d = self.weight.shape
        siblings = f", sibling_margin={self.sibling_margin}" if self.sibling_margin else ""
        return f"embed_dim={d}, num_classes={n}, scale={self.scale}, rule={self.rule}{siblings}"


def build_head(kind: str, embed_dim: int, num_classes: int, scale: float, margin: float) -> MarginHead:
    return MarginHead(embed_dim, num_classes, build_margin(kind, margin), scale)
