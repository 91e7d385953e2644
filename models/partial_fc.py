"""A class-sharded, sampled margin softmax (PartialFC, An et al. 2022), in plain PyTorch.

Each of the ``W`` ranks owns ``num_classes / W`` rows of the class-centre matrix (the first ranks one
more when it does not divide). A step gathers every rank's embeddings and labels, scores the whole
global batch against the rank's own rows (all of them, or the positives of the batch plus a sampled
``sample_rate`` share of the rest), applies the margin where a row's true class lives in this shard,
and computes the softmax cross-entropy with the normaliser summed across ranks, so no rank ever holds
the full ``num_classes`` logits.

Gradients: the loss is the mean over the global batch. A rank's shard gets exactly its gradient. The
embeddings' gradient of every shard is summed back to the rank that produced them and multiplied by
``W``: the backbone is wrapped in DistributedDataParallel, which averages its gradients over ranks,
and the product makes that average the gradient of the global loss (as insightface's arcface_torch
does). With one process there is no gathering, no scaling and no sharding.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .heads import build_head


def shard_bounds(num_classes: int, world_size: int) -> list[int]:
    """Row boundaries: rank r owns classes ``bounds[r]`` to ``bounds[r + 1] - 1``."""
    base, extra = divmod(num_classes, world_size)
    bounds = [0]
    for r in range(world_size):
        bounds.append(bounds[-1] + base + (r < extra))
    return bounds


def _gather_uneven(x: torch.Tensor, sizes: list[int], fill: float = 0) -> torch.Tensor:
    """Every rank's ``x`` (``sizes[r]`` rows on rank r), concatenated in rank order: all_gather
    needs equal shapes, so each pads to the largest and the padding is cut off again."""
    padded = x.new_full((max(sizes), *x.shape[1:]), fill)
    padded[: len(x)] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


class _GatherRows(torch.autograd.Function):
    """All ranks' (B_r, D) tensors, concatenated in rank order; B_r may differ. Backward: the
    gradient of each rank's rows summed over ranks and scaled by ``scale``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int], scale: float) -> torch.Tensor:
        ctx.sizes, ctx.rank, ctx.scale = sizes, dist.get_rank(), scale
        return _gather_uneven(x, sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad)  # every shard's contribution to every row
        start = sum(ctx.sizes[: ctx.rank])
        return grad[start : start + ctx.sizes[ctx.rank]] * ctx.scale, None, None


class _ShardedCrossEntropy(torch.autograd.Function):
    """Mean softmax cross-entropy of logits whose columns are spread over ranks. ``target`` is the
    column of each row's class in this rank's logits, or -1 when another rank holds it."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, distributed: bool) -> torch.Tensor:
        row_max = logits.max(dim=1).values
        if distributed:
            dist.all_reduce(row_max, dist.ReduceOp.MAX)
        exp = torch.exp(logits - row_max[:, None])
        total = exp.sum(dim=1)
        if distributed:
            dist.all_reduce(total)
        prob = exp / total[:, None]
        here = target >= 0
        rows = torch.nonzero(here).squeeze(1)
        target_prob = torch.zeros_like(total)
        target_prob[rows] = prob[rows, target[rows]]
        if distributed:
            dist.all_reduce(target_prob)
        ctx.save_for_backward(prob, rows, target[rows])
        return -torch.log(target_prob.clamp_min(1e-30)).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        prob, rows, cols = ctx.saved_tensors
        out = prob.clone()
        out[rows, cols] -= 1.0
        return out * (grad / len(prob)), None, None


class PartialFC(nn.Module):
    """Sharded, sampled margin head: ``forward(embeddings, labels) -> loss`` on every rank.

    ``weight`` holds this rank's classes (``self.start`` to ``self.end - 1``). ``sample_rate`` < 1
    keeps every class of the global batch that lives in the shard and draws the rest at random, up
    to ``ceil(sample_rate × shard size)`` rows per step.
    """

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        kind: str = "cosface",
        scale: float = 64.0,
        margin: float = 0.4,
        sample_rate: float = 1.0,
    ):
        super().__init__()
        if not 0.0 < sample_rate <= 1.0:
            raise ValueError(f"sample_rate must be in (0, 1], not {sample_rate}")
        self.distributed = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        bounds = shard_bounds(num_classes, self.world_size)
        self.start, self.end = bounds[self.rank], bounds[self.rank + 1]
        self.num_classes, self.sample_rate = num_classes, sample_rate
        # The margin rule (cosface / arcface / softmax) and its scale; its own weight is unused.
        self.margin_rule = build_head(kind, embed_dim, 1, scale, margin)
        del self.margin_rule.weight
        self.weight = nn.Parameter(torch.empty(self.end - self.start, embed_dim))
        nn.init.normal_(self.weight, std=0.01)
        self.last_index: torch.Tensor | None = None  # shard rows scored in the last step (tests read it)

    def sample(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shard rows to score and, per label, its column among them (-1: not in this shard)."""
        shard = self.end - self.start
        local = labels - self.start
        mine = (local >= 0) & (local < shard)
        if self.sample_rate >= 1.0 or not self.training:
            index = torch.arange(shard, device=labels.device)
        else:
            keep = max(math.ceil(self.sample_rate * shard), int(torch.unique(local[mine]).numel()))
            score = torch.rand(shard, device=labels.device)
            score[local[mine]] = 2.0  # positives first
            index = torch.sort(torch.topk(score, keep).indices).values
        position = torch.full((shard,), -1, dtype=torch.long, device=labels.device)
        position[index] = torch.arange(len(index), device=labels.device)
        target = torch.full_like(labels, -1)
        target[mine] = position[local[mine]]
        return index, target

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with torch.autocast(embeddings.device.type, enabled=False):
            embeddings = embeddings.float()
            if self.distributed:
                size = torch.tensor([len(labels)], device=labels.device)
                sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
                dist.all_gather(sizes, size)
                sizes = [int(s) for s in sizes]
                embeddings = _GatherRows.apply(embeddings, sizes, float(self.world_size))
                labels = _gather_uneven(labels, sizes, fill=-1)
            index, target = self.sample(labels)
            self.last_index = index
            weight = self.weight if len(index) == len(self.weight) else self.weight[index]
            cos = F.linear(F.normalize(embeddings, dim=1), F.normalize(weight.float(), dim=1))
            rows = torch.nonzero(target >= 0).squeeze(1)
            if len(rows):
                cos = cos.clone()
                cos[rows] = self.margin_rule.apply_margin(cos[rows], target[rows])
            return _ShardedCrossEntropy.apply(self.margin_rule.scale * cos, target, self.distributed)

    @torch.no_grad()
    def full_weight(self) -> torch.Tensor:
        """All class centres (num_classes, D), gathered from every rank's shard (a collective: every
        rank calls it). A checkpoint stores this, so it resumes on any number of ranks."""
        if not self.distributed:
            return self.weight.detach().clone()
        bounds = shard_bounds(self.num_classes, self.world_size)
        return _gather_uneven(self.weight.detach(), [b - a for a, b in zip(bounds, bounds[1:], strict=False)])

    @torch.no_grad()
    def load_full_weight(self, full: torch.Tensor) -> None:
        """Take this rank's rows of a full (num_classes, D) matrix, however many ranks saved it."""
        if tuple(full.shape) != (self.num_classes, self.weight.shape[1]):
            raise ValueError(
                f"class centres of shape {tuple(full.shape)}, expected {(self.num_classes, self.weight.shape[1])}"
            )
        self.weight.copy_(full[self.start : self.end])

    def extra_repr(self) -> str:
        rule = self.margin_rule
        return (
            f"classes {self.start}..{self.end - 1} of {self.num_classes} (rank {self.rank} of {self.world_size}), "
            f"sample_rate={self.sample_rate}, {type(rule).__name__} scale={rule.scale}, margin={getattr(rule, 'margin', 0)}"
        )
