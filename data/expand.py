"""Instance expansion: one image becomes 24 classes (4 rotations × mirror × full/top/bottom half).

As in the original DocClassifier: a rotated, mirrored or half page is a different document layout,
so each variant is a class of its own, which multiplies the classes a few pages provide.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from data.mix import class_families
from data.transforms import as_image

ROTATIONS = (0, 90, 180, 270)
CROPS = ("full", "top", "bottom")
VARIANTS = [(rot, mirror, crop) for rot in ROTATIONS for mirror in (False, True) for crop in CROPS]


def variant(image: Image.Image | np.ndarray, index: int) -> Image.Image:
    rotation, mirror, crop = VARIANTS[index]
    image = as_image(image)
    w, h = image.size
    if crop == "top":
        image = image.crop((0, 0, w, h // 2))
    elif crop == "bottom":
        image = image.crop((0, h // 2, w, h))
    if mirror:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if rotation:
        image = image.rotate(rotation, expand=True)
    return image


class ExpandedSource:
    """Wraps a source: item ``i`` is variant ``i % 24`` of the source's item ``i // 24``."""

    def __init__(self, source):
        self.source = source
        self.num_classes = source.num_classes * len(VARIANTS)

    def __len__(self) -> int:
        return len(self.source) * len(VARIANTS)

    def families(self) -> np.ndarray:
        """A variant of each class is a sibling of the same variant of the source's siblings."""
        return (class_families(self.source)[:, None] * len(VARIANTS) + np.arange(len(VARIANTS))).ravel()

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        base, v = divmod(index, len(VARIANTS))
        image, label = self.source.load(base, epoch)
        return variant(image, v), label * len(VARIANTS) + v
