"""Image folders: ``root/<class>/<image>``, one sub-folder per class (sorted names → label ids).
PDFs and multi-page TIFFs count page by page, read as infer.py reads them (``documents.py``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from documents import DocumentError, Page, is_multipage, page_key, pages_of, release, render


def _warn(message: str) -> None:
    """A warning on stderr (a module-level function: sources are pickled to DataLoader workers)."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


class DataError(ValueError):
    """Training data that cannot be used (message names the folder or file)."""


IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
DOCUMENT_EXTENSIONS = {".pdf"}  # every page a sample (multi-frame TIFFs too)


ORIENTATION = 0x0112  # the EXIF tag a phone turns its photos by


def load_rgb(path: str | Path, min_side: int = 0) -> Image.Image:
    """Decode an image file to RGB, honouring EXIF orientation (photos from phones). With
    ``min_side``, a JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when both sides
    stay at least that long: a phone photo for 96 px training decodes in a quarter of the time.
    ``file.pdf#page=3`` (a ``documents.Page`` key) is that page, rendered with its short side at
    ``min_side`` (150 dpi without one); ``scan.tif#page=2`` that frame."""
    return _decode(path, min_side)[0]


def _decode(path: str | Path, min_side: int = 0) -> tuple[Image.Image, int]:
    """``load_rgb``'s image, and the pixels of the file's full-resolution picture (0 for a page of a
    PDF or multi-page TIFF, which is rendered or sought, never cheap)."""
    file, index = page_key(str(path))
    if index is not None:
        return render(Page(Path(file), index), short_side=min_side or None), 0
    with Image.open(path) as im:
        full = im.width * im.height
        if min_side:
            im.draft("RGB", (min_side, min_side))  # a no-op for anything but JPEG
        # exif_transpose and convert each copy the picture even when there is nothing to change
        if im.getexif().get(ORIENTATION, 1) != 1:
            im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            return im.convert("RGB"), full
        im.load()  # before the file closes
        return im, full


class DecodedCache:
    """Full-size training images decoded once: each is kept, area-shrunk to ``short_side``, as a raw
    ``.npy`` array under ``folder`` (named by a hash of its path, size, modification time and that
    side, so an edited file is decoded anew), and read from there from then on: a phone photo costs
    its reduced JPEG decode (3 to 4 ms a megapixel on one core) once, then 0.1 to 0.3 ms. Only what
    is worth it is kept: pages of PDFs and multi-page TIFFs, and images that shrink to half their
    pixels or less; a small image is read from its file as before. Every read of an image, from the
    cache or not, gives the same shrunk array, so each epoch sees the same picture.

    Entries are written beside their final name and renamed into place, so DataLoader workers that
    meet the same image at once leave one whole file; a damaged or unreadable entry is decoded again.
    A cache that cannot be written is reported once (``warn``) and training goes on decoding."""

    def __init__(self, folder: str | Path, short_side: int, warn):
        self.folder, self.short_side, self.warn = Path(folder), short_side, warn
        self.writable = True

    def entry(self, path: str) -> Path | None:
        file, _ = page_key(path)
        try:
            st = os.stat(file)
        except OSError:
            return None  # the decode names the problem
        key = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{self.short_side}"
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
        return self.folder / digest[:2] / f"{digest}.npy"

    def load(self, path: str) -> np.ndarray:
        """The image as an HWC uint8 RGB array (no PIL round trip: DocumentAugment works on arrays)."""
        entry = self.entry(path)
        if entry is not None:
            try:
                array = np.load(entry, allow_pickle=False)
                if array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3:
                    return array
            except (OSError, ValueError, EOFError):  # not kept yet, or damaged (e.g. lost in a crash): decoded below
                pass
        image, full = _decode(path, self.short_side)
        array = shrink(np.asarray(image), self.short_side)
        if entry is not None and self.writable and (full == 0 or 2 * array.shape[0] * array.shape[1] <= full):
            self._store(entry, array)
        return array

    def _store(self, entry: Path, array: np.ndarray) -> None:
        tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, entry)
        except OSError as e:
            self.writable = False
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            self.warn(f"{self.folder}: cannot keep decoded images there ({e.strerror or e}); decoding each time")


def shrink(array: np.ndarray, short_side: int) -> np.ndarray:
    """``array`` (HWC) area-resized so that its shorter side is ``short_side``, if it is longer."""
    h, w = array.shape[:2]
    if min(h, w) <= short_side:
        return array
    s = short_side / min(h, w)
    size = (short_side, max(1, round(h * s))) if w <= h else (max(1, round(w * s)), short_side)
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)


def _image_files(folder: str) -> list[str]:
    """Image files below ``folder``, relative to it with "/" separators, in ``sorted(Path.rglob())``
    order (by path components; symbolic links to folders are not followed)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        rel = os.path.relpath(dirpath, folder)
        prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        found.extend(
            prefix + f
            for f in filenames
            if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS | DOCUMENT_EXTENSIONS
            and os.path.isfile(os.path.join(dirpath, f))
        )
    found.sort(key=lambda path: path.split("/"))
    return found


def _pages(folder: Path, files: list[str], warn) -> list[str]:
    """``files`` (relative to ``folder``) with each PDF and multi-frame TIFF replaced by its pages
    (``name.pdf#page=N``); one that cannot be read is reported once through ``warn`` and left out."""
    out = []
    for rel in files:
        if not is_multipage(Path(rel)):
            out.append(rel)
            continue
        try:
            items = pages_of(folder / rel)
        except DocumentError as e:
            warn(f"{e}; skipped")
            continue
        out.extend(rel if isinstance(item, Path) else f"{rel}#page={item.number}" for item in items)
    release()  # no document left open in a process that DataLoader workers fork from
    return out


PAGE_SUFFIX = re.compile(r"_p\d+$")  # data/pdf.py writes page N of doc.pdf as doc_pN.png


def document_of(path: str) -> str:
    """The document a page file belongs to: ``doc.pdf#page=3`` → ``doc.pdf``, ``dir/doc_p3.png`` →
    ``dir/doc``; any other file is a document of its own."""
    if "#page=" in path:
        return path.rsplit("#page=", 1)[0]
    p = Path(path)
    return str(p.parent / PAGE_SUFFIX.sub("", p.stem))


class FileIndex:
    """File paths and labels as three flat arrays: the UTF-8 bytes of every path, where each path
    starts, and each file's label. A million files take a few tens of MB, not a million Python
    strings; saved under ``cache_dir`` (a folder named by a hash of the contents, renamed into place
    whole), the arrays are memory-mapped, and a pickled index carries only that folder's name, so
    DataLoader workers (forked or spawned) share one copy through the page cache."""

    def __init__(self, root: Path, blob: np.ndarray, starts: np.ndarray, labels: np.ndarray, folder: Path | None):
        self.root, self.blob, self.starts, self.labels, self.folder = root, blob, starts, labels, folder

    @classmethod
    def build(cls, root: Path, paths: list[str], labels: list[int], cache_dir: str | Path | None) -> FileIndex:
        encoded = [p.encode("utf-8", "surrogateescape") for p in paths]
        starts = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=starts[1:])
        blob = np.frombuffer(b"".join(encoded), np.uint8)
        label_array = np.asarray(labels, np.int64)
        if not cache_dir:
            return cls(root, blob, starts, label_array, None)
        digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape"))
        for array in (blob, starts, label_array):
            digest.update(array.tobytes())
        folder = Path(cache_dir) / "folder_index" / f"{root.name}-{digest.hexdigest()[:16]}"
        try:
            if not folder.is_dir():
                folder.parent.mkdir(parents=True, exist_ok=True)
                tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
                for name, array in (("blob", blob), ("starts", starts), ("labels", label_array)):
                    np.save(tmp / f"{name}.npy", array)
                try:
                    os.rename(tmp, folder)  # whole or not at all
                except OSError:  # another process got there first: theirs is the same
                    shutil.rmtree(tmp, ignore_errors=True)
            return cls.open(root, folder)
        except OSError:  # a read-only cache: keep the arrays in memory
            return cls(root, blob, starts, label_array, None)

    @classmethod
    def open(cls, root: Path, folder: Path) -> FileIndex:
        arrays = (np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False) for n in ("blob", "starts", "labels"))
        blob, starts, labels = arrays
        return cls(root, blob, starts, labels, folder)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[str, int]:
        a, b = self.starts[index], self.starts[index + 1]
        rel = self.blob[a:b].tobytes().decode("utf-8", "surrogateescape")
        return str(self.root / rel), int(self.labels[index])

    def __getstate__(self):
        if self.folder is not None:
            return {"root": self.root, "folder": self.folder}
        return self.__dict__

    def __setstate__(self, state):
        if "blob" in state:
            self.__dict__.update(state)
        else:
            self.__dict__.update(FileIndex.open(state["root"], state["folder"]).__dict__)


class ImageFolderSource:
    """A class per sub-folder of ``root``, or with ``class_per_image`` each image (each page of a
    PDF or multi-page TIFF) its own class. The file list is a ``FileIndex`` (memory-mapped from
    ``cache_dir`` when one is given); with ``cache_side`` too, full-size images are decoded once into
    a ``DecodedCache`` there (instead of decoded reduced to ``min_side`` at every read). A PDF or TIFF
    that cannot be opened is reported through ``warn`` once, when the folder is read, and left out."""

    def __init__(
        self,
        root: str | Path,
        class_per_image: bool = False,
        cache_dir: str | Path | None = None,
        min_side: int = 0,
        cache_side: int = 0,
        warn=None,
    ):
        warn = warn or _warn
        self.root = Path(root)
        self.min_side = min_side  # JPEGs are decoded reduced while both sides stay this long (load_rgb)
        # With cache_side (and a cache_dir), full-size images are kept decoded at that short side.
        self.decoded = DecodedCache(Path(cache_dir) / "decoded", cache_side, warn) if cache_side and cache_dir else None
        if not self.root.is_dir():
            raise DataError(f"{self.root}: data folder not found")
        self.classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if class_per_image:
            paths = _pages(self.root, _image_files(str(self.root)), warn)
            labels = list(range(len(paths)))
        else:
            paths, labels = [], []
            for label, name in enumerate(self.classes):
                found = _pages(self.root / name, _image_files(str(self.root / name)), warn)
                paths.extend(f"{name}/{p}" for p in found)
                labels.extend([label] * len(found))
        if not paths:
            raise DataError(f"{self.root}: no images found (expected {self.root}/<class>/<image>)")
        self.samples = FileIndex.build(self.root, paths, labels, cache_dir)
        self.class_per_image = class_per_image
        self.num_classes = len(self.samples) if class_per_image else len(self.classes)

    def __len__(self) -> int:
        return len(self.samples)

    def families(self) -> np.ndarray:
        """Each class's family id: with ``class_per_image`` the pages of one document (a PDF's
        ``#page=N`` entries, or ``<doc>_p<N>.<ext>`` files in one folder, as ``python -m data.pdf``
        names them) are one family; sub-folder classes are each a family of their own."""
        if not self.class_per_image:
            return np.arange(self.num_classes)
        ids: dict[str, int] = {}
        return np.array([ids.setdefault(document_of(self.samples[i][0]), len(ids)) for i in range(len(self))])

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image | np.ndarray, int]:
        """The image (an HWC uint8 RGB array when it comes through the decoded cache) and its label."""
        path, label = self.samples[index]
        try:
            return (self.decoded.load(path) if self.decoded else load_rgb(path, self.min_side)), label
        except DocumentError as e:
            raise DataError(str(e)) from None
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:  # PIL's decode errors
            raise DataError(f"{path}: unreadable image ({e})") from None
