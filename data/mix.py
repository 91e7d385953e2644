"""Several sources in one dataset: labels kept apart, each source a configured share of an epoch."""

from __future__ import annotations

import bisect

import numpy as np
from PIL import Image


def class_families(source) -> np.ndarray:
    """(num_classes,) family ids of a source's classes: classes of one family are look-alike siblings
    (a synthetic family, the pages of one document). A source that knows no families: each class its own."""
    families = getattr(source, "families", None)
    return np.asarray(families() if families else np.arange(source.num_classes), np.int64)


class MixedSource:
    """``parts`` = [(source, weight)]. An epoch has as many items as all sources together; source i
    fills ``weight_i / Σ weight`` of it, cycling through its items across epochs when it has more
    than its share, repeating them when it has fewer."""

    def __init__(self, parts: list[tuple[object, float]]):
        self.sources = [s for s, _ in parts]
        total = sum(len(s) for s in self.sources)
        weight_sum = sum(w for _, w in parts)
        self.counts = [max(1, round(total * w / weight_sum)) for _, w in parts]
        self.starts = [0]
        for c in self.counts:
            self.starts.append(self.starts[-1] + c)
        self.offsets = [0]
        for s in self.sources:
            self.offsets.append(self.offsets[-1] + s.num_classes)
        self.num_classes = self.offsets[-1]

    def __len__(self) -> int:
        return self.starts[-1]

    def families(self) -> np.ndarray:
        """The sources' family ids, kept apart as their labels are."""
        out, offset = [], 0
        for source in self.sources:
            ids = class_families(source)
            out.append(ids + offset)
            offset += int(ids.max()) + 1 if len(ids) else 0
        return np.concatenate(out)

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        part = bisect.bisect_right(self.starts, index) - 1
        source, count = self.sources[part], self.counts[part]
        local = (index - self.starts[part] + epoch * count) % len(source)
        image, label = source.load(local, epoch)
        return image, self.offsets[part] + label
