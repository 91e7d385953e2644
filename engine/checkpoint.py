"""Checkpoints: one file from rank 0, written atomically, loaded with ``weights_only=True``; the
random streams saved and restored with them. Only state is read and written here: building a model
from a checkpoint is ``engine.weights.embedding_model``."""

from __future__ import annotations

import io
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from atomic import atomic_path, stale_temporaries


@contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """``atomic.atomic_path`` for a file one process writes (rank 0): temporaries of earlier writers
    killed mid-write (SIGKILL leaves no chance to clean up) are stale, and removed first."""
    for stale in stale_temporaries(path):
        stale.unlink(missing_ok=True)
    with atomic_path(path) as tmp:
        yield tmp


def save_atomic(obj: Any, path: str | Path) -> None:
    # Serialised in memory first: torch.save straight to a file reports a full disk as an opaque
    # RuntimeError from its zip writer; a plain write raises OSError (ENOSPC) that callers can name.
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        f.write(buf.getbuffer())


class CheckpointError(ValueError):
    """A file that is not a usable training checkpoint (the message names it, in one line)."""


def checkpoint_path(path: str | Path) -> Path:
    """A run folder means its ``last.pt``; anything else is the checkpoint file itself."""
    path = Path(path)
    return path / "last.pt" if path.is_dir() else path


def load_model_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """``model.load_state_dict(state)``, with a mismatch (a checkpoint of another architecture, or
    a config override that changes the model) told in one line naming the first differences."""
    ours = model.state_dict()
    missing = [k for k in ours if k not in state]
    unexpected = [k for k in state if k not in ours]
    shapes = [
        f"{k} {'×'.join(map(str, state[k].shape))} in the checkpoint, {'×'.join(map(str, ours[k].shape))} here"
        for k in ours
        if k in state and state[k].shape != ours[k].shape
    ]
    problems = [f"shape of {s}" for s in shapes]
    problems += [f"{len(missing)} weights missing (e.g. {missing[0]})"] if missing else []
    problems += [f"{len(unexpected)} unknown weights (e.g. {unexpected[0]})"] if unexpected else []
    if problems:
        more = f"; {len(problems) - 2} more" if len(problems) > 2 else ""
        raise CheckpointError(f"{path}: weights do not fit the configured model ({'; '.join(problems[:2])}{more})")
    model.load_state_dict(state)


# The training model holds the feature branch as ``body``; checkpoints written before it was one
# module name its tensors ``backbone.*`` and ``neck.*`` at the top, and are read as the same.
BODY = "body."
_BODY_PARTS = ("backbone.", "neck.")


def uses_average(ckpt: dict[str, Any], raw: bool = False) -> bool:
    """Whether ``body_weights(ckpt, raw)`` gives the moving average (the run kept one, not ``raw``)."""
    return "ema" in ckpt and not raw


def body_weights(ckpt: dict[str, Any], raw: bool = False) -> dict[str, torch.Tensor]:
    """The feature branch's weights (``backbone.*``, ``neck.*``) to load from a checkpoint: their
    moving average where the run kept one (``train.ema_decay``), or with ``raw`` the trained ones."""
    if uses_average(ckpt, raw):
        return ckpt["ema"]
    return {k.removeprefix(BODY): v for k, v in ckpt["model"].items() if k.startswith(BODY)}


def _upgrade(ckpt: dict[str, Any]) -> dict[str, Any]:
    model = ckpt["model"]
    if isinstance(model, dict) and any(k.startswith(_BODY_PARTS) for k in model):
        ckpt["model"] = {(BODY + k if k.startswith(_BODY_PARTS) else k): v for k, v in model.items()}
    return ckpt


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Tensors and plain containers only: a checkpoint can never run code when loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch's note on a foreign file's pickle protocol: noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - zip, pickle and refused-global errors alike: one line
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), "")
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {first[:160]})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not a DocClassifier training checkpoint (no model/config entries)")
    return _upgrade(ckpt)


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, *rest = state["python"]
    random.setstate((version, tuple(rest[0]), rest[1]))
    name, keys, *tail = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *tail))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
