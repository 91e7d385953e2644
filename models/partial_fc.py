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

from .heads import NoMargin, init_class_centres_


def shard_bounds(num_classes: int, world_size: int) -> list[int]:
    """Row boundaries: rank r owns classes ``bounds[r]`` to ``bounds[r + 1] - 1``."""
    base, extra = divmod(num_classes, world_size)
    bounds = [0]
    for r in range(world_size):
        bounds.append(bounds[-1] + base + (r < extra))
    return bounds


def _gather_uneven(x: torch.Tensor, sizes: list[int], fill: float = 0, dst: int | None = None) -> torch.Tensor | None:
    """Every rank's ``x`` (``sizes[r]`` rows on rank r), concatenated in rank order, on every rank
    (``dst`` None) or on rank ``dst`` only (None elsewhere). The collectives need equal shapes, so
    each rank pads to the largest and the padding is cut off again."""
    padded = x.new_full((max(sizes), *x.shape[1:]), fill)
    padded[: len(x)] = x
    if dst is None:
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded)
    else:
        parts = [torch.empty_like(padded) for _ in sizes] if dist.get_rank() == dst else None
        dist.gather(padded, parts, dst=dst)
        if parts is None:
            return None
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
    column of each row's class in this rank's logits, or -1 when another rank holds it.

    Returns the loss and, per row, whether its class has the largest logit of all ranks' columns
    (top-1 of the training step; no gradient)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor, distributed: bool):
        row_max = logits.max(dim=1).values
        if distributed:
            dist.all_reduce(row_max, dist.ReduceOp.MAX)
        exp = torch.exp(logits - row_max[:, None])
        total = exp.sum(dim=1)
        rows = torch.nonzero(target >= 0).squeeze(1)
        # The target's probability numerator and logit live on one rank: zeros elsewhere, then a sum.
        sums = torch.zeros(3, len(logits), dtype=logits.dtype, device=logits.device)
        sums[0] = total
        sums[1, rows] = exp[rows, target[rows]]
        sums[2, rows] = logits[rows, target[rows]]
        if distributed:
            dist.all_reduce(sums)
        total, target_exp, target_logit = sums
        prob = exp / total[:, None]
        correct = target_logit >= row_max
        ctx.mark_non_differentiable(correct)
        ctx.save_for_backward(prob, rows, target[rows])
        return -torch.log((target_exp / total).clamp_min(1e-30)).mean(), correct

    @staticmethod
    def backward(ctx, grad: torch.Tensor, _correct_grad):
        prob, rows, cols = ctx.saved_tensors
        out = prob.clone()
        out[rows, cols] -= 1.0
        return out * (grad / len(prob)), None, None


class PartialFC(nn.Module):
    """Sharded, sampled margin head: ``forward(embeddings, labels) -> (loss, correct)`` on every rank,
    the call ``MarginHead`` answers, with a weightless margin ``rule`` (models/heads.py).

    ``weight`` holds this rank's classes (``self.start`` to ``self.end - 1``). ``sample_rate`` < 1
    keeps every class of the global batch that lives in the shard and draws the rest at random, up
    to ``ceil(sample_rate × shard size)`` rows per step.
    """

    sharded = True  # each rank holds its own rows: kept out of DDP, its gradient norm summed over ranks

    def __init__(
        self,
        embed_dim: int,
        num_classes: int,
        rule=None,
        scale: float = 64.0,
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
        # This rank's rows of the plain head's initial matrix: the same start on any number of ranks.
        self.weight = nn.Parameter(torch.empty(self.end - self.start, embed_dim))
        init_class_centres_(self.weight, self.start, num_classes)
        self.rule = rule if rule is not None else NoMargin()
        self.scale = scale
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

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean margin-softmax loss over the global batch (the same on every rank), and how many
        of *this rank's* rows have their class as the top logit (among the classes scored this step:
        all of them, or the sampled ones when ``sample_rate`` < 1)."""
        with torch.autocast(embeddings.device.type, enabled=False):
            embeddings = embeddings.float()
            start, count = 0, len(labels)
            if self.distributed:
                size = torch.tensor([len(labels)], device=labels.device)
                sizes = [torch.zeros_like(size) for _ in range(self.world_size)]
                dist.all_gather(sizes, size)
                sizes = [int(s) for s in sizes]
                start = sum(sizes[: self.rank])
                embeddings = _GatherRows.apply(embeddings, sizes, float(self.world_size))
                labels = _gather_uneven(labels, sizes, fill=-1)
            index, target = self.sample(labels)
            self.last_index = index
            weight = self.weight if len(index) == len(self.weight) else self.weight[index]
            cos = F.linear(F.normalize(embeddings, dim=1), F.normalize(weight.float(), dim=1))
            rows = torch.nonzero(target >= 0).squeeze(1)
            if len(rows):
                cos = cos.clone()
                cos[rows] = self.rule(cos[rows], target[rows])
            loss, correct = _ShardedCrossEntropy.apply(self.scale * cos, target, self.distributed)
            return loss, correct[start : start + count].sum()

    def _shard_sizes(self) -> list[int]:
        bounds = shard_bounds(self.num_classes, self.world_size)
        return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]

    @torch.no_grad()
    def gather_rows(self, shard: torch.Tensor, dst: int | None = None) -> torch.Tensor | None:
        """A (num_classes, …) tensor from every rank's (shard rows, …) part — the weight, or an
        optimizer state of it — on every rank (``dst`` None), or for a checkpoint on rank ``dst``
        only, in CPU memory (None on the others: an accelerator never keeps more than one gathered
        matrix). A collective: every rank calls it."""
        if not self.distributed:
            full = shard.detach().clone()
        else:
            full = _gather_uneven(shard.detach(), self._shard_sizes(), dst=dst)
        return full.cpu() if dst is not None and full is not None else full

    def shard_rows(self, full: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a (num_classes, …) tensor, however many ranks saved it."""
        if len(full) != self.num_classes:
            raise ValueError(f"{len(full)} rows of class centres, expected {self.num_classes}")
        return full[self.start : self.end]

    def full_weight(self, dst: int | None = None) -> torch.Tensor | None:
        """All class centres (num_classes, D), gathered from every rank's shard (a collective). A
        checkpoint stores this, so it resumes on any number of ranks."""
        return self.gather_rows(self.weight, dst)

    @torch.no_grad()
    def load_full_weight(self, full: torch.Tensor) -> None:
        """Take this rank's rows of a full (num_classes, D) matrix, however many ranks saved it."""
        if tuple(full.shape) != (self.num_classes, self.weight.shape[1]):
            raise ValueError(
                f"class centres of shape {tuple(full.shape)}, expected {(self.num_classes, self.weight.shape[1])}"
            )
        self.weight.copy_(self.shard_rows(full))

    def _optimizer_entry(self, optimizer: torch.optim.Optimizer) -> int:
        """The number ``optimizer.state_dict()`` gives this head's weight."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        return next(i for i, p in enumerate(params) if p is self.weight)

    def full_optimizer_state(self, optimizer: torch.optim.Optimizer, dst: int | None = None) -> dict | None:
        """``optimizer.state_dict()`` with this head's per-row state (AdamW's moments, SGD's
        momentum) gathered to all classes: the same layout as a plain head's, so it loads on any
        number of ranks. A collective; on rank ``dst`` (every rank when None), None on the others."""
        state = optimizer.state_dict()
        entry = self._optimizer_entry(optimizer)
        mine = state["state"].get(entry, {})
        full = {}  # a new dict: state_dict() hands out the optimizer's live per-parameter dicts
        for key, value in mine.items():
            if torch.is_tensor(value) and value.shape == self.weight.shape:
                value = self.gather_rows(value, dst)
            full[key] = value
        if dst is not None and self.rank != dst:
            return None
        return {**state, "state": {**state["state"], entry: full}} if mine else state

    def load_optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> None:
        """``optimizer.load_state_dict`` of a state saved with all classes' rows (by
        ``full_optimizer_state``, or by a plain head), keeping this rank's rows."""
        entry = self._optimizer_entry(optimizer)
        if entry in state["state"]:
            rows = {
                key: self.shard_rows(value) if torch.is_tensor(value) and value.ndim >= 1 else value
                for key, value in state["state"][entry].items()
            }
            state = {**state, "state": {**state["state"], entry: rows}}
        optimizer.load_state_dict(state)

    def describe(self) -> str:
        """What a run's first line says of the head beyond its class count."""
        return f" (PartialFC: {len(self.weight)} of them on this rank, sample_rate {self.sample_rate})"

    def extra_repr(self) -> str:
        return (
            f"classes {self.start}..{self.end - 1} of {self.num_classes} (rank {self.rank} of {self.world_size}), "
            f"sample_rate={self.sample_rate}, scale={self.scale}, rule={self.rule}"
        )
