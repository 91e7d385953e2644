"""Distributed setup in one place: torchrun's variables present → a process group; absent → one process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1 or dist.is_initialized()


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but no CUDA device is available")
    if preference != "cpu" and torch.cuda.is_available():
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device_preference: str = "auto", timeout_s: float = 600.0) -> DistEnv:
    """NCCL on CUDA, gloo on CPU, nothing when not launched by torchrun.

    ``timeout_s`` bounds every collective, so a dead peer ends the job instead of hanging it.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return DistEnv(0, 1, 0, pick_device(device_preference))
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = pick_device(device_preference, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if device.type == "cuda" else "gloo",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=timeout_s),
        device_id=device if device.type == "cuda" else None,
        store=_attempt_store(world_size, timeout_s),
    )
    return DistEnv(rank, world_size, local_rank, device)


def _attempt_store(world_size: int, timeout_s: float) -> dist.Store | None:
    """Under torchrun, a store of this attempt's own keys (None: let init_process_group make one).

    After ``torchrun --max-restarts`` restarts a group, the agent's store still holds the dead
    attempt's keys, and gloo then tries to connect to the old ranks' addresses (measured with
    torch 2.15: every restart failed so). Prefixing every key with the restart count keeps each
    attempt's rendezvous its own.
    """
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        world_size,
        is_master=False,
        timeout=timedelta(seconds=timeout_s),
    )
    return dist.PrefixStore(f"docclassifier/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def shutdown_distributed() -> None:
    """Call after dropping every reference to DDP-wrapped modules (gloo can abort otherwise)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def all_gather_objects(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (just ``[obj]`` for one process)."""
    if not dist.is_initialized():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def data_parallel(model: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when ``env`` is distributed (the model itself
    otherwise). Parameters whose values differ per rank, named by the model's
    ``sharded_parameters()`` (a sharded head's rows), are left out: DDP neither broadcasts nor
    averages them."""
    if not env.distributed:
        return model
    sharded = getattr(model, "sharded_parameters", dict)()
    torch.nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, list(sharded))
    device_ids = [env.device.index] if env.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
