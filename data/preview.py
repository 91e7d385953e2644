"""Write a grid of augmented training images, so a person can see what the model is fed.

python -m data.preview --cfg lcnet050_cosface_96 --out preview.png
python -m data.preview --cfg tiny_cpu --data.augment strong --n 48
"""

from __future__ import annotations

import argparse

import torch
from torchvision.utils import make_grid, save_image

from configs import load_config
from data import build_train_dataset


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="lcnet050_cosface_96")
    parser.add_argument("--out", default="preview.png")
    parser.add_argument("--n", type=int, default=32, help="images in the grid")
    parser.add_argument("--epoch", type=int, default=0)
    args, rest = parser.parse_known_args(argv)
    cfg = load_config(args.cfg, rest)
    dataset = build_train_dataset(cfg.data, seed=cfg.train.seed)
    dataset.set_epoch(args.epoch)
    step = max(1, len(dataset) // args.n)
    images = torch.stack([dataset[i * step % len(dataset)][0] for i in range(args.n)])
    mean = torch.tensor(cfg.data.mean).view(1, 3, 1, 1)
    std = torch.tensor(cfg.data.std).view(1, 3, 1, 1)
    save_image(make_grid((images * std + mean).clamp(0, 1), nrow=8, padding=2), args.out)
    print(f"wrote {args.out}: {args.n} training images of {cfg.name} (augment={cfg.data.augment})")


if __name__ == "__main__":
    main()
