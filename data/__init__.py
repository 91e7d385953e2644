"""Data: sources (decode) → augmentation → tensors. Nothing here knows about the model."""

from __future__ import annotations

from data.dataset import AugmentedDataset, ResumableSampler, batches_per_epoch
from data.folder import IMAGE_EXTENSIONS, DataError, ImageFolderSource, load_rgb
from data.synthetic import SyntheticDocuments
from data.transforms import eval_transform, train_transform

__all__ = [
    "IMAGE_EXTENSIONS",
    "AugmentedDataset",
    "DataError",
    "ImageFolderSource",
    "ResumableSampler",
    "SyntheticDocuments",
    "batches_per_epoch",
    "build_source",
    "build_train_dataset",
    "eval_transform",
    "load_rgb",
    "train_transform",
]


def build_source(data_cfg):
    """The configured image source (see ``DataConfig`` in configs/schema.py)."""
    if data_cfg.source == "synthetic":
        s = data_cfg.synthetic
        # 1.5× the training size leaves room for crops; larger only slows rendering and warping.
        long_side = data_cfg.image_size * 3 // 2
        return SyntheticDocuments(s.num_classes, s.samples_per_class, seed=s.seed, long_side=long_side)
    return ImageFolderSource(data_cfg.root)


def build_train_dataset(data_cfg, seed: int) -> AugmentedDataset:
    transform = train_transform(data_cfg.image_size, data_cfg.mean, data_cfg.std, data_cfg.augment)
    return AugmentedDataset(build_source(data_cfg), transform, seed=seed)
