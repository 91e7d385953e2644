"""Augmentations (torchvision.transforms.v2) that mimic how cropped, flattened documents arrive:
a little perspective and rotation left over from flattening, crops, colour and lighting changes,
shadows, defocus and motion blur, low resolution, JPEG, sensor noise, grey / sepia / inverted scans.

Evaluation and inference use only ``eval_transform``: PIL bilinear resize to a square, scale to
[0, 1], normalise with the config's mean and std. infer.py reproduces exactly that without torch.
All randomness comes from torch's global generator, which the dataset seeds per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.transforms import v2


@dataclass(frozen=True)
class Strength:
    perspective: float  # distortion scale
    rotation: float  # degrees
    min_area: float  # smallest crop, as a share of the page
    jitter: float  # brightness / contrast / saturation
    p_blur: float  # defocus (Gaussian)
    p_motion: float
    p_low_res: float
    p_jpeg: float
    p_lighting: float  # a brightness gradient across the page
    p_shadow: float
    p_tone: float  # grey, sepia or inverted
    p_noise: float


STRENGTHS = {
    "light": Strength(0.05, 2, 0.9, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.05, 0.05, 0.1),
    "medium": Strength(0.15, 5, 0.8, 0.3, 0.25, 0.15, 0.15, 0.3, 0.3, 0.2, 0.15, 0.2),
    "strong": Strength(0.25, 10, 0.65, 0.45, 0.4, 0.25, 0.3, 0.5, 0.5, 0.35, 0.25, 0.4),
}


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * torch.rand(()).item()


class RandomLowResolution:
    """Down-sample then up-sample: a small or distant document in the photo (uint8 CHW)."""

    def __init__(self, p: float, scale=(0.3, 0.7)):
        self.p, self.scale = p, scale

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        h, w = img.shape[-2:]
        s = _uniform(*self.scale)
        small = v2.functional.resize(img, [max(8, int(h * s)), max(8, int(w * s))], antialias=True)
        return v2.functional.resize(small, [h, w], antialias=False)


class RandomMotionBlur:
    """A line kernel at a random angle: a hand that moved (float CHW)."""

    def __init__(self, p: float, lengths=(3, 9)):
        self.p, self.lengths = p, lengths

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        k = int(torch.randint(self.lengths[0], self.lengths[1] + 1, ())) | 1  # odd
        angle = _uniform(0, math.pi)
        t = torch.linspace(-(k // 2), k // 2, 4 * k)
        xs = (k // 2 + t * math.cos(angle)).round().long().clamp(0, k - 1)
        ys = (k // 2 + t * math.sin(angle)).round().long().clamp(0, k - 1)
        kernel = torch.zeros(k, k)
        kernel[ys, xs] = 1.0
        kernel = (kernel / kernel.sum()).expand(img.shape[0], 1, k, k)
        out = F.conv2d(F.pad(img[None], [k // 2] * 4, mode="replicate"), kernel, groups=img.shape[0])
        return out[0]


class RandomLighting:
    """Uneven light: brightness falls off linearly across the page in a random direction."""

    def __init__(self, p: float, darkest=(0.55, 0.9)):
        self.p, self.darkest = p, darkest

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        h, w = img.shape[-2:]
        angle = _uniform(0, 2 * math.pi)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        ramp = (xs * math.cos(angle) + ys * math.sin(angle)) / math.sqrt(2) * 0.5 + 0.5  # 0..1
        low = _uniform(*self.darkest)
        return (img * (low + (1 - low) * ramp)).clamp(0, 1)


class RandomShadow:
    """A soft-edged shadow over part of the page (a phone or a hand between lamp and document)."""

    def __init__(self, p: float, strength=(0.35, 0.7)):
        self.p, self.strength = p, strength

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        h, w = img.shape[-2:]
        angle, offset = _uniform(0, 2 * math.pi), _uniform(-0.6, 0.6)
        softness = _uniform(0.02, 0.2)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
        side = xs * math.cos(angle) + ys * math.sin(angle) - offset
        mask = torch.sigmoid(side / softness)  # 1 in the shadow, soft edge
        return img * (1 - _uniform(*self.strength) * mask)


class RandomTone:
    """Grey, sepia or inverted (a photocopy, an old print, a negative scan)."""

    SEPIA = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])

    def __init__(self, p: float):
        self.p = p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        choice = int(torch.randint(0, 3, ()))
        if choice == 0:
            return v2.functional.rgb_to_grayscale(img, num_output_channels=3)
        if choice == 1:
            return torch.einsum("ij,jhw->ihw", self.SEPIA, img).clamp(0, 1)
        return 1.0 - img


def _normalize(mean, std) -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]


def eval_transform(image_size: int, mean, std) -> v2.Compose:
    return v2.Compose([v2.Resize((image_size, image_size), antialias=True), *_normalize(mean, std)])


def train_transform(image_size: int, mean, std, strength: str = "medium") -> v2.Compose:
    if strength == "none":
        return eval_transform(image_size, mean, std)
    s = STRENGTHS[strength]
    return v2.Compose(
        [
            v2.RandomPerspective(distortion_scale=s.perspective, p=0.5, fill=0),
            v2.RandomRotation(s.rotation, fill=0),
            v2.RandomResizedCrop((image_size, image_size), scale=(s.min_area, 1.0), ratio=(0.8, 1.25), antialias=True),
            # No hue jitter: it costs 3× the rest of ColorJitter and documents rarely change hue.
            v2.ColorJitter(brightness=s.jitter, contrast=s.jitter, saturation=s.jitter),
            v2.ToImage(),
            RandomLowResolution(s.p_low_res),
            v2.RandomApply([v2.JPEG((30, 90))], p=s.p_jpeg),
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=s.p_blur),
            RandomMotionBlur(s.p_motion),
            RandomLighting(s.p_lighting),
            RandomShadow(s.p_shadow),
            RandomTone(s.p_tone),
            v2.RandomApply([v2.GaussianNoise(sigma=0.03, clip=True)], p=s.p_noise),
            v2.Normalize(mean, std),
        ]
    )
