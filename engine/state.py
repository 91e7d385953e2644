"""A training run's state as one checkpoint: assembled from every rank (the sharded head's rows and
every rank's random streams gathered), written by rank 0 atomically, and restored into a new
invocation's parts however many ranks wrote it, so an interrupted run resumes exactly."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from configs import ConfigError
from engine.checkpoint import load_model_weights, rng_state, save_atomic
from engine.distributed import DistEnv, all_gather_objects
from engine.ema import WeightEMA
from engine.loop import average_buffers


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, folder gone); the run stops."""


@dataclass
class TrainingParts:
    """What a checkpoint holds the state of: the model (its head holding all class centres, or this
    rank's rows of them), optimizer, schedule, scaler, and ``ema``, the moving average of the
    backbone and neck, kept on rank 0 only."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: Any  # torch.amp.GradScaler
    ema: WeightEMA | None = None


def save_training_state(path: Path, parts: TrainingParts, env: DistEnv, record: dict[str, Any]) -> None:
    """Every rank calls it (collectives gather the head's rows and the random streams); rank 0 writes
    ``path``: weights (all classes' centres), optimizer, schedule, scaler, moving average, every
    rank's random state and ``record`` (step, config and the like). A write that fails leaves the
    previous checkpoint whole and raises ``CheckpointWriteError`` saying so."""
    average_buffers(parts.model)
    rngs = all_gather_objects(rng_state())  # every rank's stream, so resume is exact
    head = parts.model.head
    weights = parts.model.state_dict()
    weights["head.weight"] = head.full_weight(dst=0)  # all classes' rows (gathered on rank 0 when sharded)
    optimizer_state = head.full_optimizer_state(parts.optimizer, dst=0)
    if not env.is_main:
        return
    state = {
        "model": weights,
        **({"ema": parts.ema.state_dict()} if parts.ema is not None else {}),
        "optimizer": optimizer_state,
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        **record,
        "world_size": env.world_size,
        "rng": rngs,
    }
    try:
        save_atomic(state, path)
    except OSError as e:  # the previous checkpoint is intact (atomic write); say so and stop
        raise CheckpointWriteError(
            f"{path}: cannot write the step {record.get('step')} checkpoint ({e.strerror or e}); "
            "the previous one is intact"
        ) from None


def restore_training_state(ckpt: dict[str, Any], path: Path, parts: TrainingParts, num_classes: int) -> int:
    """Load a checkpoint into ``parts`` (the moving average apart: ``WeightEMA.load_state_dict``),
    the head taking its rows of the centres and their optimizer state; returns its step.
    A checkpoint of another number of classes, or of another model, is one line naming the file."""
    if ckpt["num_classes"] != num_classes:
        raise ConfigError(f"the checkpoint's head has {ckpt['num_classes']} classes, the data has {num_classes}")
    state, head = ckpt["model"], parts.model.head
    if "head.weight" in state:  # this rank's rows, however many ranks saved them
        state = {**state, "head.weight": head.shard_rows(state["head.weight"])}
    load_model_weights(parts.model, state, path)
    head.load_optimizer_state(parts.optimizer, ckpt["optimizer"])
    parts.scheduler.load_state_dict({**ckpt["scheduler"], "lr_lambdas": [None] * len(parts.optimizer.param_groups)})
    parts.scaler.load_state_dict(ckpt["scaler"])
    return ckpt["step"]
