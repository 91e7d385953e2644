"""Data pipeline speed per DataLoader worker: decode (render or read) and augment, one image at a time.

    python bench/augment.py [--size 96] [--images 200] [--repeats 5] [--pages data_cache/pages96] [--json out.json]

A worker runs one thread (PyTorch sets that in DataLoader workers; we set OpenCV's too), so this runs
single-threaded. Each figure is the median over ``--repeats`` passes over the same images after a
warm-up pass, in milliseconds per image. ``torchvision v2 (reference)`` is the same stages with the
same probabilities as a torchvision.transforms.v2 chain, the way data/transforms.py did it before
(``git show 32b07ed:data/transforms.py``; here low resolution is a fixed half and tone grey only),
kept to show the before / after.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import torch
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import ImageFolderSource, SyntheticDocuments  # noqa: E402
from data.transforms import (  # noqa: E402
    STRENGTHS,
    RandomLighting,
    RandomMotionBlur,
    RandomShadow,
    eval_transform,
    train_transform,
)


class _TensorMotionBlur:
    """The reference chain's motion blur: ours works on HWC uint8, this on float CHW tensors."""

    def __init__(self, p: float):
        self.p = p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(()) >= self.p:
            return img
        k = int(torch.randint(3, 10, ())) | 1
        kernel = torch.from_numpy(RandomMotionBlur.kernel(k, float(torch.rand(())) * 3.14159))
        kernel = kernel.expand(img.shape[0], 1, k, k)
        padded = torch.nn.functional.pad(img[None], [k // 2] * 4, mode="replicate")
        return torch.nn.functional.conv2d(padded, kernel, groups=img.shape[0])[0]


def torchvision_reference(size: int, mean, std, strength: str = "medium") -> v2.Compose:
    """The stages and probabilities of data/transforms.py as a torchvision v2 chain."""
    s = STRENGTHS[strength]
    low_res = v2.RandomApply([v2.Resize(size // 2, antialias=True), v2.Resize((size, size), antialias=False)])
    low_res.p = s.p_low_res
    return v2.Compose(
        [
            v2.RandomPerspective(distortion_scale=s.perspective, p=0.5, fill=0),
            v2.RandomRotation(s.rotation, fill=0),
            v2.RandomResizedCrop((size, size), scale=(s.min_area, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.ColorJitter(brightness=s.jitter, contrast=s.jitter, saturation=s.jitter),
            v2.ToImage(),
            low_res,
            v2.RandomApply([v2.JPEG((30, 90))], p=s.p_jpeg),
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=s.p_blur),
            _TensorMotionBlur(s.p_motion),
            RandomLighting(s.p_lighting),
            RandomShadow(s.p_shadow),
            v2.RandomApply([v2.RandomGrayscale(1.0)], p=s.p_tone),
            v2.RandomApply([v2.GaussianNoise(sigma=0.03, clip=True)], p=s.p_noise),
            v2.Normalize(mean, std),
        ]
    )


def per_image_ms(fn, items, repeats: int) -> float:
    for item in items[: max(1, len(items) // 4)]:  # warm-up
        fn(item)
    times = []
    for r in range(repeats):
        torch.manual_seed(r)
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        times.append((time.perf_counter() - t0) / len(items) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=96, help="training image size (sources render at 1.5x)")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pages", default="data_cache/pages96", help="a folder of page images (skipped if absent)")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    long_side = args.size * 3 // 2

    synthetic = SyntheticDocuments(max(1, args.images // 8), 8, seed=0, long_side=long_side)
    rows = [("decode: synthetic template render", per_image_ms(synthetic.load, list(range(args.images)), args.repeats))]
    images = {"synthetic": [synthetic.load(i)[0] for i in range(args.images)]}
    if Path(args.pages).is_dir():
        pages = ImageFolderSource(args.pages, class_per_image=True)
        idx = list(range(min(args.images, len(pages))))
        rows.append((f"decode: page image from {args.pages}", per_image_ms(pages.load, idx, args.repeats)))
        images["pages"] = [pages.load(i)[0] for i in idx]

    for kind, items in images.items():
        size = f"{items[0].size[0]}x{items[0].size[1]}"
        rows.append((f"augment {kind} ({size}): eval resize only", per_image_ms(eval_transform(args.size, mean, std), items, args.repeats)))  # fmt: skip
        for strength in ("light", "medium", "strong"):
            ours = train_transform(args.size, mean, std, strength)
            rows.append((f"augment {kind}: ours, {strength}", per_image_ms(ours, items, args.repeats)))
        reference = torchvision_reference(args.size, mean, std, "medium")
        rows.append((f"augment {kind}: torchvision v2 (reference), medium", per_image_ms(reference, items, args.repeats)))  # fmt: skip

    width = max(len(name) for name, _ in rows)
    print(f"{'stage (1 thread)':<{width}}  ms/img  img/s")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:6.3f}  {1000 / ms:5.0f}")
    if args.json:
        machine = {
            "cpu": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "cv2": cv2.__version__,
        }
        out = {"machine": machine, "size": args.size, "rows": [{"stage": n, "ms_per_image": m} for n, m in rows]}
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
