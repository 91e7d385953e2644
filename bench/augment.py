"""Data pipeline speed per DataLoader worker: decode (render or read) and augment, one image at a time.

    python bench/augment.py [--size 96] [--images 200] [--repeats 5] [--pages data_cache/pages96] [--json out.json]
    python bench/augment.py --photos 300 --photo-size 128     # also page-sized phone photos (needs albumentations)

With ``--photos N``: N page-sized JPEG photos (synthetic documents rendered at 1,000 to 1,400 px and
photographed by data/samples.py's ``photo_of``, quality 90, about 0.7 megapixels) read from disk and
augmented at ``--photo-size``: ours as training runs it (``ImageFolderSource.load`` with its decoded
cache: the first epoch decodes each photo reduced, shrinks it to 2.5 × the training size and keeps
it, later epochs read that; then ``medium``), ours without the cache (reduced JPEG decoding at every
read, the warp from a page halved per axis), ours as it was before (full decode, warp at the crop's
resolution), and the original DocClassifier's pipeline as the reference
(OpenCV full decode, resize to the training size, its ``DefaultImageAug`` of Albumentations at its
default p = 0.5: shift-scale-rotate, one of five blurs, one of three noises, colour jitter), all
alternated in one run (the first epoch timed over an emptied cache each time).

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
from PIL import Image
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import data.transforms as transforms  # noqa: E402
from data import ImageFolderSource, SyntheticDocuments, load_rgb  # noqa: E402
from data.photo import photo_of  # noqa: E402
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


def original_reference(size: int):
    """The original DocClassifier's training pipeline for a real photo: OpenCV decode, resize to the
    training size, its DefaultImageAug (Albumentations, p = 0.5), to a float CHW tensor."""
    import albumentations as A
    import numpy as np

    aug = A.Compose(
        [
            A.ShiftScaleRotate(shift_limit=0.05, scale_limit=0.05, rotate_limit=10),
            A.OneOf([A.MotionBlur(), A.MedianBlur(), A.GaussianBlur(), A.ZoomBlur(), A.Defocus(radius=(3, 5))]),
            A.OneOf([A.ISONoise(), A.GaussNoise(), A.MultiplicativeNoise(multiplier=(0.5, 1.5), elementwise=True)]),
            A.ColorJitter(),
        ],
        p=0.5,
    )

    def run(path: Path) -> torch.Tensor:
        img = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        img = cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)
        img = aug(image=img)["image"]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255)

    return run


def make_photos(folder: Path, n: int) -> list[Path]:
    """Page-sized JPEG photos of synthetic documents (1,000 to 1,400 px on the long side)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        long_side = 1000 + 100 * (i % 5)
        page = SyntheticDocuments(max(1, n // 4), 4, seed=1234, long_side=long_side).load(i)[0]
        path = folder / f"photo_{i:04d}.jpg"
        photo_of(page, seed=i).save(path, quality=90)
        paths.append(path)
    return paths


def photo_rows(n: int, size: int, repeats: int) -> list[tuple[str, float]]:
    import shutil
    import tempfile

    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_photos(Path(tmp) / "photos", n)
        megapixels = statistics.mean(Image.open(p).size[0] * Image.open(p).size[1] for p in paths) / 1e6
        source = ImageFolderSource(Path(tmp) / "photos", class_per_image=True, min_side=2 * size)  # as data.decode_side
        cache = Path(tmp) / "cache"
        cached = ImageFolderSource(  # as training builds it (data.build_source, decoded_cache: true)
            Path(tmp) / "photos", class_per_image=True, cache_dir=cache, min_side=2 * size, cache_side=5 * size // 2
        )
        augment = train_transform(size, mean, std, "medium")

        def ours(i: int):
            return augment(source.load(i)[0])

        def ours_cached(i: int):
            return augment(cached.load(i)[0])

        def ours_before(i: int):
            gap = transforms.PRESHRINK_GAP
            transforms.PRESHRINK_GAP = 1 << 30  # never pre-shrink: warp at the crop's resolution
            try:
                return augment(load_rgb(source.samples[i][0]))
            finally:
                transforms.PRESHRINK_GAP = gap

        def first_epoch_ms(indices: list[int]) -> float:
            shutil.rmtree(cache / "decoded", ignore_errors=True)
            t0 = time.perf_counter()
            for i in indices:
                ours_cached(i)
            return (time.perf_counter() - t0) / len(indices) * 1e3

        reference = original_reference(size)
        label = f"page-sized photos ({megapixels:.2f} MP JPEG) to {size} px"
        timed = {"cached": [], "first": [], "ours": [], "before": [], "reference": []}
        indices = list(range(len(source)))
        for _ in range(repeats):  # alternated, so they all see the same machine
            timed["first"].append(first_epoch_ms(indices))
            timed["cached"].append(per_image_ms(ours_cached, indices, 1))
            timed["ours"].append(per_image_ms(ours, indices, 1))
            timed["before"].append(per_image_ms(ours_before, indices, 1))
            timed["reference"].append(per_image_ms(reference, [source.samples[i][0] for i in indices], 1))
        kept = sum(f.stat().st_size for f in (cache / "decoded").rglob("*.npy")) / len(indices) / 1e6
        return [
            (
                f"{label}: ours, decoded cache, later epochs ({kept:.2f} MB kept a photo), medium",
                statistics.median(timed["cached"]),
            ),
            (
                f"{label}: ours, decoded cache, first epoch (decode, shrink, keep), medium",
                statistics.median(timed["first"]),
            ),
            (
                f"{label}: ours without the cache (reduced decode, halved page), medium",
                statistics.median(timed["ours"]),
            ),
            (f"{label}: ours before (full decode, warp at crop size), medium", statistics.median(timed["before"])),
            (f"{label}: original DocClassifier (Albumentations), reference", statistics.median(timed["reference"])),
        ]


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
    parser.add_argument("--photos", type=int, default=0, help="also this many page-sized photos (0: skip)")
    parser.add_argument("--photo-size", type=int, default=128, help="training size for the photo case")
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

    if args.photos:
        rows += photo_rows(args.photos, args.photo_size, args.repeats)

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
