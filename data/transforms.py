"""Augmentations that mimic how cropped, flattened documents arrive: a little perspective and
rotation left over from flattening, crops, colour and lighting changes, shadows, defocus and motion
blur, low resolution, JPEG, sensor noise, grey / sepia / inverted scans.

Training augments on CPU workers, so the pipeline is built for speed. Perspective, rotation and
crop are one homography, applied by a single OpenCV warp straight into the crop box, then one
area-averaging (antialiased, like evaluation) resize to the training size; every later stage works
on that small uint8 image with OpenCV, and only lighting, noise and normalisation run in float.
bench/augment.py measures it against the torchvision.transforms.v2 chain it replaced.

Evaluation and inference use only ``eval_transform``: PIL bilinear resize to a square, scale to
[0, 1], normalise with the config's mean and std. infer.py reproduces exactly that without torch.
All randomness comes from torch's global generator, which the dataset seeds per sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2


@dataclass(frozen=True)
class Strength:
    perspective: float  # corner displacement, as a share of half the side
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
    cast: float = 0.0  # white balance: each channel's gain in [1 - cast, 1 + cast] (hue survives)


STRENGTHS = {
    "light": Strength(0.05, 2, 0.9, 0.1, 0.1, 0.05, 0.05, 0.1, 0.1, 0.05, 0.05, 0.1, cast=0.05),
    "medium": Strength(0.15, 5, 0.8, 0.3, 0.25, 0.15, 0.15, 0.3, 0.3, 0.2, 0.15, 0.2, cast=0.12),
    "strong": Strength(0.25, 10, 0.65, 0.45, 0.4, 0.25, 0.3, 0.5, 0.5, 0.35, 0.25, 0.4, cast=0.2),
}


def uniforms() -> Iterator[float]:
    """Endless uniform [0, 1) draws from torch's generator, 64 per call (a call costs 2 µs, one
    ``torch.rand(())`` as much, and an image needs about 40 draws)."""
    while True:
        yield from torch.rand(64).tolist()


def _uniform(u: Iterator[float], lo: float, hi: float) -> float:
    return lo + (hi - lo) * next(u)


def _randint(u: Iterator[float], lo: int, hi: int) -> int:
    """An integer in [lo, hi], both ends included."""
    return min(hi, lo + int(next(u) * (hi - lo + 1)))


def _chance(u: Iterator[float], p: float) -> bool:
    return p > 0 and next(u) < p


# A crop whose shorter side is at least this many times the output size is warped straight into
# this many times the output (from a page halved per axis where the crop allows, ``halve``), then
# area-resized by this factor, instead of warped at the crop's own resolution (bench/augment.py's
# page-sized photos).
PRESHRINK_GAP = 2


def _power_of_two_below(n: int) -> int:
    """The largest power of two that is at most ``n`` (1 for n < 2)."""
    return 1 << max(0, n.bit_length() - 1)


def halve(img: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """``img`` (HWC uint8) shrunk by the powers of two ``kx`` and ``ky``, each output pixel the mean of
    its kx × ky block (to rounding). One 2:1 pass at a time: both axes at once is OpenCV's fast area
    path (0.12 ms for a 0.3 MP photo); one axis alone is a bilinear resize at exactly 2:1, which
    averages the two pixels as the area filter would (within a grey level) at a third of its
    general-case cost (0.8 against 2 to 2.8 ms)."""
    while kx > 1 or ky > 1:
        fx, fy = (2 if kx > 1 else 1), (2 if ky > 1 else 1)
        h, w = img.shape[0] // fy, img.shape[1] // fx
        mode = cv2.INTER_AREA if fx == fy else cv2.INTER_LINEAR
        img = cv2.resize(img[: h * fy, : w * fx], (w, h), interpolation=mode)
        kx, ky = kx // fx, ky // fy
    return img


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3×3 matrix that maps each of four ``src`` points (4×2) onto its ``dst`` point."""
    return cv2.getPerspectiveTransform(np.float32(src), np.float32(dst)).astype(np.float64)


class RandomWarpCrop:
    """Perspective (p = 0.5), rotation and a random resized crop in one warp (HWC uint8 in and out).

    The draws follow torchvision's RandomPerspective, RandomRotation and RandomResizedCrop. The three
    maps are composed into one homography from the crop box back to the source page, applied once
    (at crop resolution, or for a crop far larger than the output at ``PRESHRINK_GAP`` × ``size``),
    then area-resized to ``size`` × ``size``. Uncovered corners are black.
    """

    def __init__(self, size: int, perspective: float, rotation: float, scale=(0.8, 1.0), ratio=(0.8, 1.25)):
        self.size, self.perspective, self.rotation = size, perspective, rotation
        self.scale, self.log_ratio = scale, (math.log(ratio[0]), math.log(ratio[1]))

    def crop_box(self, u: Iterator[float], w: int, h: int) -> tuple[int, int, int, int]:
        """x, y, width, height: a random share of the area with a random aspect, else the whole page."""
        for _ in range(10):
            area = w * h * _uniform(u, *self.scale)
            aspect = math.exp(_uniform(u, *self.log_ratio))
            cw, ch = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
            if 0 < cw <= w and 0 < ch <= h:
                return _randint(u, 0, w - cw), _randint(u, 0, h - ch), cw, ch
        return 0, 0, w, h

    def _perspective(self, u: Iterator[float], w: int, h: int) -> np.ndarray:
        """The map from a page with its corners pulled inwards at random back to the page."""
        reach = np.array([self.perspective * w / 2, self.perspective * h / 2] * 4)
        pull = (np.array([next(u) for _ in range(8)]) * reach).reshape(4, 2)
        corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
        inward = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], dtype=np.float64)
        return homography(corners + inward * pull, corners)

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        h, w = img.shape[:2]
        x0, y0, cw, ch = self.crop_box(u, w, h)
        # A pixel of the crop -> the rotated page -> the distorted page -> the source page.
        m = np.array([[1.0, 0, x0], [0, 1, y0], [0, 0, 1]])
        if self.rotation:
            angle = math.radians(_uniform(u, -self.rotation, self.rotation))
            c, s, cx, cy = math.cos(angle), math.sin(angle), (w - 1) / 2, (h - 1) / 2
            m = np.array([[c, -s, cx - c * cx + s * cy], [s, c, cy - s * cx - c * cy], [0, 0, 1]]) @ m
        if self.perspective and _chance(u, 0.5):
            m = self._perspective(u, w, h) @ m
        out_w, out_h, interpolation = cw, ch, cv2.INTER_LINEAR
        fine = PRESHRINK_GAP * self.size
        if min(cw, ch) >= fine:
            # A crop far larger than the output (a full-size photo): the page is halved per axis (a
            # power-of-two factor, cheap passes) until the crop is less than twice that many times
            # the output, and the warp goes straight into PRESHRINK_GAP × the output (sampling at
            # most 2:1), which a 2:1 area resize then brings to the output: no pass at the crop's
            # own resolution.
            kx, ky = _power_of_two_below(cw // fine), _power_of_two_below(ch // fine)
            img = halve(img, kx, ky)
            out_w = out_h = fine
            # Pixel centres: page x → shrunk (x + 0.5) / k - 0.5; output pixel o → crop (o + 0.5)·f - 0.5.
            into_shrunk = np.array([[1 / kx, 0, 0.5 / kx - 0.5], [0, 1 / ky, 0.5 / ky - 0.5], [0, 0, 1]])
            fx, fy = cw / out_w, ch / out_h
            from_output = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
            m = into_shrunk @ m @ from_output
            # Bilinear: within 3 % of the full-resolution warp's sharpness (mean gradient, a phone
            # photo at 96 and 128 px); bicubic at up to 2:1 came out 4 % sharper than it (aliasing).
            interpolation = cv2.INTER_LINEAR
        if (cw, ch) != (w, h) or self.rotation or self.perspective or (out_w, out_h) != (cw, ch):
            img = cv2.warpPerspective(img, m, (out_w, out_h), flags=interpolation | cv2.WARP_INVERSE_MAP)
        return cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)


class RandomLowResolution:
    """Down-sample then up-sample: a small or distant document in the photo (HWC uint8)."""

    def __init__(self, p: float, scale=(0.3, 0.7)):
        self.p, self.scale = p, scale

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        h, w = img.shape[:2]
        s = _uniform(u, *self.scale)
        small = cv2.resize(img, (max(8, int(w * s)), max(8, int(h * s))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class RandomJPEG:
    """A JPEG round trip at a random quality (HWC uint8 RGB)."""

    def __init__(self, p: float, quality=(30, 90)):
        self.p, self.quality = p, quality

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, _randint(u, *self.quality)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1] if ok else img  # OpenCV is BGR


_GREY = np.array([0.299, 0.587, 0.114])
_GREY_ROWS = np.tile(_GREY, (3, 1))  # every channel becomes the grey value
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


class RandomColour:
    """Brightness, contrast and saturation in [1 - j, 1 + j] (as ColorJitter), a white-balance cast
    (each channel's gain in [1 - cast, 1 + cast]: the light's colour, under which a teal header stays
    teal and an orange one orange), then with chance ``p_tone`` grey, sepia or inverted: all one 3×4
    colour matrix, applied and clipped once (HWC uint8)."""

    def __init__(self, jitter: float, p_tone: float, cast: float = 0.0):
        self.jitter, self.p_tone, self.cast = jitter, p_tone, cast

    def matrix(self, u: Iterator[float], mean_grey: float) -> np.ndarray:
        """The affine colour map as a 3×4 matrix acting on [r, g, b, 1] in 0..255."""
        m = np.hstack([np.eye(3), np.zeros((3, 1))])
        if self.jitter:
            b, c, s = (1 + self.jitter * (2 * next(u) - 1) for _ in range(3))
            m = b * m  # brightness
            m = c * m + (1 - c) * np.hstack([np.zeros((3, 3)), np.full((3, 1), b * mean_grey)])  # contrast
            m = s * m + (1 - s) * (_GREY_ROWS @ m)  # saturation: towards the pixel's own grey
        if self.cast:
            m = np.diag([1 + self.cast * (2 * next(u) - 1) for _ in range(3)]) @ m
        if _chance(u, self.p_tone):
            choice = _randint(u, 0, 2)
            tone = (_GREY_ROWS, _SEPIA, -np.eye(3))[choice]
            m = tone @ m
            if choice == 2:
                m[:, 3] += 255.0  # inverted: 255 - v
        return m

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        if not self.jitter and not self.p_tone and not self.cast:
            return img
        m = self.matrix(u, float(np.dot(cv2.mean(img)[:3], _GREY)))
        return cv2.transform(img, m.astype(np.float32))  # saturates to 0..255


class RandomGaussianBlur:
    """Defocus: a 5×5 Gaussian with sigma drawn per image (HWC uint8)."""

    def __init__(self, p: float, sigma=(0.1, 1.5)):
        self.p, self.sigma = p, sigma

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        return cv2.GaussianBlur(img, (5, 5), _uniform(u, *self.sigma), borderType=cv2.BORDER_REFLECT_101)


class RandomMotionBlur:
    """A line kernel at a random angle: a hand that moved (HWC uint8)."""

    def __init__(self, p: float, lengths=(3, 9)):
        self.p, self.lengths = p, lengths

    @staticmethod
    def kernel(k: int, angle: float) -> np.ndarray:
        t = np.linspace(-(k // 2), k // 2, 4 * k)
        xs = np.clip(np.round(k // 2 + t * math.cos(angle)), 0, k - 1).astype(int)
        ys = np.clip(np.round(k // 2 + t * math.sin(angle)), 0, k - 1).astype(int)
        kernel = np.zeros((k, k), np.float32)
        kernel[ys, xs] = 1.0
        return kernel / kernel.sum()

    def __call__(self, img: np.ndarray, u: Iterator[float] | None = None) -> np.ndarray:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        k = _randint(u, *self.lengths) | 1  # odd
        return cv2.filter2D(img, -1, self.kernel(k, _uniform(u, 0, math.pi)), borderType=cv2.BORDER_REPLICATE)


@lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y coordinates in [-1, 1], shape (h, w) each."""
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return xs, ys


class RandomLighting:
    """Uneven light: brightness falls off linearly across the page in a random direction (float CHW)."""

    def __init__(self, p: float, darkest=(0.55, 0.9)):
        self.p, self.darkest = p, darkest

    def __call__(self, img: torch.Tensor, u: Iterator[float] | None = None) -> torch.Tensor:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        xs, ys = _grid(*img.shape[-2:])
        angle = _uniform(u, 0, 2 * math.pi)
        ramp = (xs * math.cos(angle) + ys * math.sin(angle)) * (0.5 / math.sqrt(2)) + 0.5  # 0..1
        low = _uniform(u, *self.darkest)
        return img * (low + (1 - low) * ramp)


class RandomShadow:
    """A soft-edged shadow over part of the page: a phone or a hand between lamp and document (float CHW)."""

    def __init__(self, p: float, strength=(0.35, 0.7)):
        self.p, self.strength = p, strength

    def __call__(self, img: torch.Tensor, u: Iterator[float] | None = None) -> torch.Tensor:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        xs, ys = _grid(*img.shape[-2:])
        angle, offset = _uniform(u, 0, 2 * math.pi), _uniform(u, -0.6, 0.6)
        softness = _uniform(u, 0.02, 0.2)
        mask = torch.sigmoid((xs * math.cos(angle) + ys * math.sin(angle) - offset) / softness)  # 1 in shadow
        return img * (1 - _uniform(u, *self.strength) * mask)


class RandomNoise:
    """Gaussian sensor noise, clipped to [0, 1] (float CHW)."""

    def __init__(self, p: float, sigma: float = 0.03):
        self.p, self.sigma = p, sigma

    def __call__(self, img: torch.Tensor, u: Iterator[float] | None = None) -> torch.Tensor:
        u = uniforms() if u is None else u
        if not _chance(u, self.p):
            return img
        return img.add(torch.randn_like(img), alpha=self.sigma).clamp_(0, 1)


class DocumentAugment:
    """The training transform: PIL page in, normalised float CHW ``size`` × ``size`` tensor out."""

    def __init__(self, size: int, mean, std, strength: Strength):
        s = strength
        self.uint8_stages = [
            RandomWarpCrop(size, s.perspective, s.rotation, scale=(s.min_area, 1.0)),
            RandomLowResolution(s.p_low_res),
            RandomJPEG(s.p_jpeg),
            RandomColour(s.jitter, s.p_tone, s.cast),
            RandomGaussianBlur(s.p_blur),
            RandomMotionBlur(s.p_motion),
        ]
        self.float_stages = [RandomLighting(s.p_lighting), RandomShadow(s.p_shadow), RandomNoise(s.p_noise)]
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        # Workers already run one sample per process; OpenCV's own thread pool would only compete.
        cv2.setNumThreads(1)

    def __call__(self, image: Image.Image | np.ndarray) -> torch.Tensor:
        u = uniforms()
        if not isinstance(image, np.ndarray):  # an array is already HWC uint8 RGB (the decoded cache)
            image = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        img = image
        for stage in self.uint8_stages:
            img = stage(img, u)
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).contiguous().float().div_(255)
        for stage in self.float_stages:
            x = stage(x, u)
        return x.sub_(self.mean).div_(self.std)


def as_image(image: Image.Image | np.ndarray) -> Image.Image:
    """A source's image as PIL: sources give PIL images or (the decoded cache) HWC uint8 RGB arrays."""
    return Image.fromarray(image) if isinstance(image, np.ndarray) else image


def pad_to_square(image: Image.Image | np.ndarray) -> Image.Image:
    """The image centred on a square of its border's median colour (``data.letterbox``). infer.py
    repeats this (it cannot import torch); tests/test_infer.py holds the two to the same pixels."""
    image = as_image(image)
    image = image if image.mode == "RGB" else image.convert("RGB")
    w, h = image.size
    if w == h:
        return image
    a = np.asarray(image)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0))
    side = max(w, h)
    out = Image.new("RGB", (side, side), fill)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


def eval_transform(image_size: int, mean, std, letterbox: bool = False) -> v2.Compose:
    return v2.Compose(
        [
            v2.Lambda(as_image),
            *([v2.Lambda(pad_to_square)] if letterbox else []),
            v2.Resize((image_size, image_size), antialias=True),
            v2.ToImage(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )


def train_transform(
    image_size: int, mean, std, strength: str = "medium", tone_p: float | None = None, letterbox: bool = False
):
    """``strength``'s augmentation; ``tone_p`` replaces its chance of a grey, sepia or inverted tone
    (palette is what tells some registered types apart: a tone teaches the model to ignore it);
    ``letterbox`` pads each page to a square first (``pad_to_square``)."""
    if strength == "none":
        return eval_transform(image_size, mean, std, letterbox)
    s = STRENGTHS[strength]
    augment = DocumentAugment(image_size, mean, std, s if tone_p is None else dataclasses.replace(s, p_tone=tone_p))
    return v2.Compose([v2.Lambda(pad_to_square), augment]) if letterbox else augment
