"""Augmentations (torchvision.transforms.v2) that mimic how cropped, flattened documents arrive.

Evaluation and inference use only ``eval_transform``: PIL bilinear resize to a square, scale to
[0, 1], normalise with the config's mean and std. infer.py reproduces exactly that without torch.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

# Per strength: perspective distortion, rotation (deg), min crop area, colour jitter, p(blur),
# p(grey), p(jpeg), p(noise).
STRENGTHS = {
    "light": (0.05, 2, 0.9, 0.1, 0.1, 0.05, 0.1, 0.1),
    "medium": (0.15, 5, 0.8, 0.3, 0.3, 0.1, 0.3, 0.2),
    "strong": (0.25, 10, 0.65, 0.45, 0.5, 0.2, 0.5, 0.4),
}


def _normalize(mean, std) -> list[v2.Transform]:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


def eval_transform(image_size: int, mean, std) -> v2.Compose:
    return v2.Compose([v2.Resize((image_size, image_size), antialias=True), *_normalize(mean, std)])


def train_transform(image_size: int, mean, std, strength: str = "medium") -> v2.Compose:
    if strength == "none":
        return eval_transform(image_size, mean, std)
    persp, rot, area, jitter, p_blur, p_grey, p_jpeg, p_noise = STRENGTHS[strength]
    return v2.Compose(
        [
            v2.RandomPerspective(distortion_scale=persp, p=0.5, fill=0),
            v2.RandomRotation(rot, fill=0),
            v2.RandomResizedCrop((image_size, image_size), scale=(area, 1.0), ratio=(0.8, 1.25), antialias=True),
            # No hue jitter: it costs 3× the rest of ColorJitter and documents rarely change hue.
            v2.ColorJitter(brightness=jitter, contrast=jitter, saturation=jitter),
            v2.RandomGrayscale(p_grey),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=p_blur),
            v2.ToImage(),
            v2.RandomApply([v2.JPEG((30, 90))], p=p_jpeg),
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomApply([v2.GaussianNoise(sigma=0.03, clip=True)], p=p_noise),
            v2.Normalize(mean, std),
        ]
    )
