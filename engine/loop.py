"""The training step loop and what it needs: optimizer, AMP, gradient accumulation, logging."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import torch
import torch.distributed as dist
from torch import nn

from engine.distributed import DistEnv
from engine.metrics import JsonlLog, Throughput

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class NonFiniteError(RuntimeError):
    """Gradients were not finite for too many optimizer steps in a row; the run cannot go on."""


def build_optimizer(model: nn.Module, cfg) -> torch.optim.Optimizer:
    """AdamW or SGD (``OptimConfig``); no weight decay on biases and norm parameters."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))


def autocast(device: torch.device, amp: str):
    """One code path for every precision: autocast for bf16/fp16, nothing for 'off'."""
    if amp == "off":
        return nullcontext()
    return torch.autocast(device.type, dtype=AMP_DTYPES[amp])


def grad_scaler(device: torch.device, amp: str) -> torch.amp.GradScaler:
    """Loss scaling is needed for fp16 only; disabled, the scaler is a pass-through."""
    return torch.amp.GradScaler(device.type, enabled=amp == "fp16")


def memory_format(train_cfg) -> torch.memory_format:
    """channels_last unless turned off: tensor cores like NHWC, and on CPU (oneDNN) a training step of
    these convnets measured 1.15-1.9x faster with it (lcnet050 at 96 and 128 px, tiny_cpu; 1-2 threads)."""
    return torch.contiguous_format if train_cfg.channels_last is False else torch.channels_last


@torch.no_grad()
def average_buffers(model: nn.Module) -> None:
    """Average float buffers (BatchNorm running stats) across ranks so every rank — and the
    checkpoint — holds the same statistics."""
    if not dist.is_initialized():
        return
    world = dist.get_world_size()
    for buf in model.buffers():
        if buf.is_floating_point():
            dist.all_reduce(buf)
            buf /= world


def clip_sharded_grad_norm_(
    replicated: list[nn.Parameter], sharded: list[nn.Parameter], max_norm: float
) -> torch.Tensor:
    """``clip_grad_norm_`` when some parameters are sharded over the ranks (a PartialFC head): the
    norm of the whole model's gradient, replicated parameters counted once and every rank's shard
    added in, so every rank clips by the same factor and sees the same (finite or not) norm."""
    device = replicated[0].device

    def sum_of_squares(params: list[nn.Parameter]) -> torch.Tensor:
        norms = [torch.linalg.vector_norm(p.grad, dtype=torch.float32) for p in params if p.grad is not None]
        return torch.stack(norms).square().sum() if norms else torch.zeros((), device=device)

    shard = sum_of_squares(sharded)
    if dist.is_initialized():
        dist.all_reduce(shard)
    total = (sum_of_squares(replicated) + shard).sqrt()
    if max_norm != float("inf"):
        factor = (max_norm / (total + 1e-6)).clamp(max=1.0)  # as clip_grad_norm_ computes it
        for p in (*replicated, *sharded):
            if p.grad is not None:
                p.grad.mul_(factor)
    return total


class StepLoop:
    """Runs optimizer steps over an iterator of batches; logs on rank 0; calls ``on_step`` after each.

    ``model(images, labels)`` gives the loss and the number of rows whose class came first.
    ``sharded``: those of its parameters whose values differ per rank (a sharded head's rows, which
    DDP leaves alone): the gradient norm sums them over ranks.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        scaler: torch.amp.GradScaler,
        env: DistEnv,
        train_cfg,
        grad_clip: float,
        log: JsonlLog | None,
        progress=None,
        sharded: list[nn.Parameter] | None = None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.env = env
        self.cfg = train_cfg
        self.grad_clip = grad_clip
        self.log = log
        self.progress = progress
        self.memory_format = memory_format(train_cfg)
        self.sharded = [p for p in sharded or [] if p.requires_grad]
        mine = {id(p) for p in self.sharded}
        self.params = [p for p in model.parameters() if p.requires_grad and id(p) not in mine]
        self._reset_meters()
        self.nonfinite_run = 0  # consecutive skipped steps
        self.throughput = Throughput()

    def _reset_meters(self) -> None:
        # Sums kept on the device: no host sync until a log step.
        self.sums = torch.zeros(3, device=self.env.device, dtype=torch.float64)  # loss, correct, samples
        self.grad_norm = torch.zeros((), device=self.env.device)
        self.skipped = 0  # optimizer steps skipped for non-finite gradients since the last log line

    def run(
        self, batches: Iterator, num_steps: int, step: int, epoch: int, on_step: Callable[[int], bool | None]
    ) -> int:
        """At most ``num_steps`` optimizer steps from ``step``; stops early when ``on_step`` returns True."""
        accum = self.cfg.grad_accum
        ddp = isinstance(self.model, nn.parallel.DistributedDataParallel)
        for _ in range(num_steps):
            self.optimizer.zero_grad(set_to_none=True)
            for micro in range(accum):
                images, labels = next(batches)
                images = images.to(self.env.device, non_blocking=True, memory_format=self.memory_format)
                labels = labels.to(self.env.device, non_blocking=True)
                # Gradients are all-reduced on the last micro-batch only.
                sync = nullcontext() if (not ddp or micro == accum - 1) else self.model.no_sync()
                with sync:
                    with autocast(self.env.device, self.cfg.amp):
                        loss, correct = self.model(images, labels)
                    self.scaler.scale(loss / accum).backward()
                self.sums += torch.stack(
                    [
                        loss.detach().double() * len(labels),
                        correct.double(),
                        torch.tensor(float(len(labels)), device=self.env.device, dtype=torch.float64),
                    ]
                )
                self.throughput.add(len(labels) * self.env.world_size)
            self.scaler.unscale_(self.optimizer)  # clip and check the true gradients, not scaled ones
            max_norm = self.grad_clip if self.grad_clip > 0 else float("inf")
            if self.sharded:
                self.grad_norm = clip_sharded_grad_norm_(self.params, self.sharded, max_norm)
            else:
                self.grad_norm = torch.nn.utils.clip_grad_norm_(self.params, max_norm)
            # Gradients are all-reduced (and a shard's norm summed), so every rank sees the same norm
            # and takes the same branch.
            finite = bool(torch.isfinite(self.grad_norm))
            if finite or (self.scaler.is_enabled() and not self.sharded):
                self.scaler.step(self.optimizer)  # fp16: the scaler skips a non-finite step itself
                self.scaler.update()  # ... and lowers its scale
            else:
                # A shard's inf may be on another rank only, where this rank's scaler would not see
                # it: every rank skips and lowers the scale alike.
                backoff = (
                    self.scaler.get_scale() * self.scaler.get_backoff_factor() if self.scaler.is_enabled() else None
                )
                self.scaler.update(backoff)
            self.lr = self.optimizer.param_groups[0]["lr"]  # the rate this step used
            self.scheduler.step()
            step += 1
            if not finite:
                self.skipped += 1
            if step % self.cfg.log_every_steps == 0:
                self._log(step, epoch)
            self._check_finite(finite, step, epoch)
            if self.progress is not None:
                self.progress.update(1)
            if on_step(step):
                break
        return step

    def _check_finite(self, finite: bool, step: int, epoch: int) -> None:
        """Stop the run after ``train.max_nonfinite_steps`` skipped steps in a row."""
        if finite:
            self.nonfinite_run = 0
            return
        self.nonfinite_run += 1
        limit = self.cfg.max_nonfinite_steps
        if limit and self.nonfinite_run >= limit:
            first = step - self.nonfinite_run + 1
            raise NonFiniteError(
                f"step {step}: gradients not finite for {self.nonfinite_run} steps in a row (steps {first} to "
                f"{step}, epoch {epoch}; weights kept from before step {first}); lower optim.lr, use "
                "train.amp bf16 or off, or check those batches"
            )

    def flush(self, step: int, epoch: int) -> None:
        """Log what has accumulated since the last log step (end of training)."""
        if step % self.cfg.log_every_steps:
            self._log(step, epoch)

    def _log(self, step: int, epoch: int) -> None:
        sums = self.sums.clone()
        if dist.is_initialized():
            dist.all_reduce(sums)  # every rank takes part; rank 0 writes
        loss, correct, n = sums.tolist()
        record = {
            "step": step,
            "epoch": epoch,
            "loss": loss / max(n, 1),
            "acc": correct / max(n, 1),
            "lr": self.lr,
            "grad_norm": float(self.grad_norm),
            "img_per_s": self.throughput.rate(),
            "time": time.time(),
        }
        if self.skipped:
            record["skipped_steps"] = self.skipped  # non-finite gradients: no update
        if self.env.device.type == "cuda":
            record["max_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30
        else:  # this process's peak resident memory (Linux reports KiB)
            record["max_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        self._reset_meters()
        if self.env.is_main:
            if self.log is not None:
                self.log.write(record)
            if self.progress is not None:
                self.progress.set_postfix(
                    loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.2e}", img_s=f"{record['img_per_s']:.0f}"
                )
