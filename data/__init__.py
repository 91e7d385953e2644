"""Data: sources (decode) → augmentation → tensors. Nothing here knows about the model."""

from __future__ import annotations

from data.dataset import AugmentedDataset, ResumableSampler, batches_per_epoch
from data.expand import ExpandedSource
from data.folder import IMAGE_EXTENSIONS, DataError, ImageFolderSource, load_rgb
from data.mix import MixedSource, class_families
from data.pdf import PdfPagesSource
from data.synthetic import SyntheticDocuments
from data.transforms import eval_transform, train_transform

__all__ = [
    "IMAGE_EXTENSIONS",
    "AugmentedDataset",
    "DataError",
    "ExpandedSource",
    "ImageFolderSource",
    "MixedSource",
    "PdfPagesSource",
    "ResumableSampler",
    "SyntheticDocuments",
    "batches_per_epoch",
    "build_source",
    "cache_side",
    "class_families",
    "build_train_dataset",
    "eval_transform",
    "load_rgb",
    "train_transform",
]


def decode_side(data_cfg) -> int:
    """The shortest side a training JPEG is decoded at: twice the training size, as infer.py decodes
    a query (``DECODE_GAP``), so the crop still has more pixels than the output."""
    return 2 * data_cfg.image_size


def cache_side(data_cfg) -> int:
    """The short side full-size training images are kept at (``DecodedCache``): 2.5 × the training
    size, so a crop of most of the page is still twice the output or more and a page-shaped one less
    than four times (RandomWarpCrop then warps it straight into twice the output, no pre-shrink)."""
    return 5 * data_cfg.image_size // 2


def build_source(data_cfg):
    """The configured sources (``DataConfig.sources`` in configs/schema.py) as one source."""
    # 1.5× the training size leaves room for crops; larger only slows rendering and warping.
    long_side = data_cfg.image_size * 3 // 2
    parts = []
    for sc in data_cfg.sources:
        if sc.kind == "synthetic":
            s = data_cfg.synthetic
            source = SyntheticDocuments(
                s.num_classes, s.samples_per_class, s.seed, long_side, family_size=s.family_size, fonts=s.fonts
            )
        elif sc.kind == "folder":
            source = ImageFolderSource(
                sc.root,
                class_per_image=sc.class_per_image,
                cache_dir=sc.cache_dir or None,
                min_side=decode_side(data_cfg),
                cache_side=cache_side(data_cfg) if sc.decoded_cache else 0,
            )
        else:
            source = PdfPagesSource(sc.root, long_side, cache_dir=sc.cache_dir or None, max_pages=sc.max_pages)
        parts.append((ExpandedSource(source) if sc.expand else source, sc.weight))
    return parts[0][0] if len(parts) == 1 else MixedSource(parts)


def build_train_dataset(data_cfg, seed: int) -> AugmentedDataset:
    d = data_cfg
    transform = train_transform(d.image_size, d.mean, d.std, d.augment, d.tone_p, d.letterbox)
    return AugmentedDataset(build_source(data_cfg), transform, seed=seed)
