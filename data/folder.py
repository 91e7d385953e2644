"""Image folders: ``root/<class>/<image>``, one sub-folder per class (sorted names → label ids)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps


class DataError(ValueError):
    """Training data that cannot be used (message names the folder or file)."""


IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file to RGB, honouring EXIF orientation (photos from phones)."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        return im.convert("RGB")


class ImageFolderSource:
    """A class per sub-folder of ``root``, or with ``class_per_image`` each image its own class."""

    def __init__(self, root: str | Path, class_per_image: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: data folder not found")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        self.samples: list[tuple[str, int]] = []
        for label, name in enumerate(self.classes):
            for path in sorted((self.root / name).rglob("*")):
                if path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file():
                    self.samples.append((str(path), label))
        if class_per_image:
            files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
            self.samples = [(str(p), i) for i, p in enumerate(files)]
        if not self.samples:
            raise DataError(f"{self.root}: no images found (expected {self.root}/<class>/<image>)")
        self.num_classes = len(self.samples) if class_per_image else len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        path, label = self.samples[index]
        try:
            return load_rgb(path), label
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # PIL's decode errors
            raise DataError(f"{path}: unreadable image ({e})") from None
