"""Dataset and sampler whose every random draw is a pure function of (seed, epoch, index).

That is what makes an interrupted run resume on exactly the same batches: the sampler's order comes
from (seed, epoch), each sample's augmentation from (seed, epoch, index), independent of which
worker loads it or how many batches came before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler

from data.folder import DataError


class Source(Protocol):
    num_classes: int

    def __len__(self) -> int: ...

    # a PIL image, or an HWC uint8 RGB array (data.folder.DecodedCache); transforms take either
    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image | np.ndarray, int]: ...


class AugmentedDataset(Dataset):
    def __init__(self, source: Source, transform, seed: int = 0):
        self.source = source
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        self.num_classes = source.num_classes
        self.bad: set[int] = set()  # samples already reported unreadable

    def set_epoch(self, epoch: int) -> None:
        # Workers are started anew each epoch (persistent_workers=False), so they see this value.
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, label = self._load(index)
        # fork_rng: the main process (num_workers=0) keeps its own RNG stream for the model.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed((self.seed * 1_000_003 + self.epoch) * 1_000_033 + index)
            return self.transform(image), label

    def _load(self, index: int, tries: int = 10) -> tuple[Image.Image, int]:
        """The sample, or, when its file cannot be read, the next readable one (a warning, not a crash).
        Deterministic: the same bad file is always replaced by the same sample."""
        for k in range(tries):
            j = (index + k) % len(self.source)
            try:
                return self.source.load(j, self.epoch)
            except DataError as e:
                if j not in self.bad:  # once per sample and process
                    self.bad.add(j)
                    print(f"warning: {e}; replaced by the next sample", file=sys.stderr, flush=True)
        raise DataError(f"samples {index} to {index + tries - 1}: none of them could be read")


class ResumableSampler(DistributedSampler):
    """DistributedSampler (also for one process) that can start part-way into an epoch."""

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.start = 0

    def set_start(self, samples_done: int) -> None:
        """Skip the first ``samples_done`` of this rank's samples in the current epoch."""
        self.start = samples_done

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


def batches_per_epoch(num_samples: int, world_size: int, batch_size: int) -> int:
    """Full batches each rank sees per epoch (sampler and loader both drop the remainder)."""
    return (num_samples // world_size) // batch_size
