"""Write the sample register and example queries that ship with the repo.

    python -m data.samples --register register --examples examples
    python -m data.samples --eval-set held_out --types 200 --unknown-types 50   # for eval.py

Templates come from a seed the shipped model never trained on (training uses data.synthetic.seed 0),
so the register shows what a user sees: document types new to the model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import v2

from data.synthetic import SyntheticDocuments

SAMPLE_SEED = 2026
KIND_BY_ASPECT = [(1.5, "card"), (1.2, "landscape_form"), (0.9, "square_form"), (0.6, "letter"), (0.0, "receipt")]


def kind(aspect: float) -> str:
    return next(name for limit, name in KIND_BY_ASPECT if aspect >= limit)


def photo_of(image: Image.Image, seed: int) -> Image.Image:
    """The document as a phone might deliver it after cropping: slightly warped, rotated, blurred, JPEG'd."""
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


def write_eval_set(
    out: Path, num_types: int, photos_per_type: int = 2, unknown_types: int = 0, seed: int = 31337, long_side: int = 384
) -> None:
    """An evaluation folder: ``register/<type>.png`` (a clean example) and ``queries/<type>/*.jpg``
    (photos of other instances); ``unknown_types`` more types have queries but no register entry."""
    total = num_types + unknown_types
    per = photos_per_type + 1
    docs = SyntheticDocuments(total, per, seed=seed, long_side=long_side)
    (out / "register").mkdir(parents=True, exist_ok=True)
    for t in range(total):
        name = f"type{t:04d}"
        if t < num_types:
            docs.load(per * t)[0].save(out / "register" / f"{name}.png")
        (out / "queries" / name).mkdir(parents=True, exist_ok=True)
        for k in range(1, per):
            photo_of(docs.load(per * t + k)[0], seed=per * t + k).save(out / "queries" / name / f"{k}.jpg", quality=85)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--register", default="register")
    parser.add_argument("--examples", default="examples")
    parser.add_argument("--types", type=int, default=6)
    parser.add_argument("--eval-set", help="write an evaluation folder (register/ + queries/) here instead")
    parser.add_argument("--unknown-types", type=int, default=0, help="eval set: types with queries only")
    parser.add_argument("--photos-per-type", type=int, default=2)
    args = parser.parse_args()
    if args.eval_set:
        write_eval_set(Path(args.eval_set), args.types, args.photos_per_type, args.unknown_types)
        print(f"wrote {args.types} registered + {args.unknown_types} unregistered types to {args.eval_set}/")
        return
    docs = SyntheticDocuments(num_classes=args.types + 1, samples_per_class=2, seed=SAMPLE_SEED, long_side=384)
    register, examples = Path(args.register), Path(args.examples)
    register.mkdir(parents=True, exist_ok=True)
    examples.mkdir(parents=True, exist_ok=True)
    names = []
    for class_id in range(args.types):
        name = f"{kind(docs.template(class_id).aspect)}_{class_id + 1}"
        names.append(name)
        docs.load(class_id * 2)[0].save(register / f"{name}.png", optimize=True)
    # A photo of another instance of a registered type (other content), and an unregistered type.
    target = 2
    photo_of(docs.load(target * 2 + 1)[0], seed=1).save(examples / f"photo_of_{names[target]}.jpg", quality=80)
    docs.load(args.types * 2)[0].save(examples / "unregistered_document.png", optimize=True)
    print(f"wrote {args.types} register images to {register}/ and 2 examples to {examples}/")


if __name__ == "__main__":
    main()
