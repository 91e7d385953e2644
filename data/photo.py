"""A clean document as a phone might deliver it after cropping: the photos validation, the sample
register's examples and evaluation sets are made of (training uses ``data/transforms.py``)."""

from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2


def photo_of(image: Image.Image, seed: int) -> Image.Image:
    """The document slightly warped, rotated, blurred, its brightness and colour jittered; the same
    ``seed`` gives the same photo."""
    torch.manual_seed(seed)
    warp = v2.Compose(
        [
            v2.RandomPerspective(distortion_scale=0.15, p=1.0, fill=[40, 40, 40]),
            v2.RandomRotation(4, fill=[40, 40, 40]),
            v2.ColorJitter(brightness=0.25, contrast=0.2, saturation=0.2),
            v2.GaussianBlur(5, sigma=(0.6, 1.0)),
        ]
    )
    return warp(image)
