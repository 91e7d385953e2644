"""Training metrics: a JSON-lines log in the run folder and a few running measures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class JsonlLog:
    """Appends one JSON object per line; on resume, drops lines past the checkpoint's step.

    With ``tensorboard_dir``, every number of a record also goes to TensorBoard as a scalar at the
    record's step (``tensorboard --logdir runs/``); on resume, events past the checkpoint's step are
    purged there too, so both logs hold one value per step."""

    def __init__(self, path: str | Path, resume_step: int | None = None, tensorboard_dir: str | Path | None = None):
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if _step_of(line) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        self.board = None
        if tensorboard_dir is not None:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            purge = resume_step + 1 if resume_step else None
            self.board = SummaryWriter(str(tensorboard_dir), purge_step=purge)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.board is not None and "step" in record:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.board.add_scalar(key, value, record["step"])
            self.board.flush()

    def close(self) -> None:
        if self.board is not None:
            self.board.close()


def _step_of(line: str) -> float:
    try:
        return json.loads(line).get("step", float("inf"))
    except json.JSONDecodeError:
        return float("inf")  # a torn last line from a killed run


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


class Throughput:
    """Images per second between calls to ``rate``."""

    def __init__(self):
        self.start = time.perf_counter()
        self.images = 0

    def add(self, n: int) -> None:
        self.images += n

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.images / max(now - self.start, 1e-9)
        self.start, self.images = now, 0
        return rate
