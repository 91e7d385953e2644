"""PDF pages as classes: every page of every PDF under a folder is one document type.

Pages are rendered with pypdfium2 at the size training needs and cached as PNG files, so each page
is rasterised once, not once per epoch. To train where the PDFs (or pypdfium2) are not, write the
pages once into an image folder and train on it as ``{kind: folder, root: DIR, class_per_image: true}``:

    python -m data.pdf data_cache/pdfs/train --out data_cache/pages96 --long-side 144 --max-pages 30
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from data.folder import DataError


def spread_pages(count: int, max_pages: int = 0) -> list[int]:
    """Page indices of a ``count``-page file: all of them, or ``max_pages`` evenly spread (first and
    last included), so a long manual does not outweigh a short one."""
    if max_pages <= 0 or count <= max_pages:
        return list(range(count))
    if max_pages == 1:
        return [0]
    return sorted({round(i * (count - 1) / (max_pages - 1)) for i in range(max_pages)})


class DistinctPages:
    """Keeps the pages someone could register as a document type of their own: a nearly blank page
    (marks on under ``min_ink`` of it: pixels darker than ``ink_level`` at 128 × 128; a running head
    alone, a page number) is no document, and a page another file prints the same as one kept
    already (mean grey difference under ``max_difference`` at 64 × 90; the same manual in two
    packages) could never be told from it. Evaluation and calibration sets choose their pages
    through it, so no type is a blank page or a copy of another."""

    def __init__(self, min_ink: float = 0.01, ink_level: int = 250, max_difference: float = 0.25):
        self.min_ink, self.ink_level, self.max_difference = min_ink, ink_level, max_difference
        # Grow by doubling; the first ``kept`` rows count. Each kept page is also remembered as the
        # means of its 9 × 8 blocks. Over a block |mean(a − b)| <= mean |a − b|, so two thumbnails'
        # mean difference is at least that of their block means: only pages whose block means are
        # that close need the full comparison (the same decisions), and a folder of tens of
        # thousands of pages is checked in minutes, not hours.
        self.thumbs = np.empty((0, 90, 64), np.uint8)
        self.blocks = np.empty((0, 10, 8), np.float32)
        self.kept = self.blank = self.repeated = self.unreadable = 0

    def ink_share(self, image: Image.Image) -> float:
        grey = np.asarray(image.convert("L").resize((128, 128)), np.float32)
        return float((grey < self.ink_level).mean())

    def admit(self, image: Image.Image) -> bool:
        """True (and the page remembered) when ``image`` is neither blank nor a copy of a kept page."""
        if self.ink_share(image) < self.min_ink:
            self.blank += 1
            return False
        thumb = np.asarray(image.convert("L").resize((64, 90)), np.uint8)
        blocks = thumb.reshape(10, 9, 8, 8).mean(axis=(1, 3), dtype=np.float32)
        near = np.abs(self.blocks[: self.kept] - blocks).mean(axis=(1, 2)) < self.max_difference + 1e-3  # rounding
        if near.any():
            others = self.thumbs[: self.kept][near].astype(np.float32)
            if (np.abs(others - thumb.astype(np.float32)).mean(axis=(1, 2)) < self.max_difference).any():
                self.repeated += 1
                return False
        if self.kept == len(self.thumbs):
            grow = max(8, self.kept)
            self.thumbs = np.concatenate([self.thumbs, np.empty((grow, 90, 64), np.uint8)])
            self.blocks = np.concatenate([self.blocks, np.empty((grow, 10, 8), np.float32)])
        self.thumbs[self.kept], self.blocks[self.kept] = thumb, blocks
        self.kept += 1
        return True

    def skipped(self) -> str:
        unreadable = f", {self.unreadable} that could not be drawn" if self.unreadable else ""
        return f"{self.blank} nearly blank and {self.repeated} repeated pages skipped{unreadable}"


class PdfPagesSource:
    def __init__(
        self, root: str | Path, long_side: int, cache_dir: str | Path | None = "data_cache", max_pages: int = 0
    ):
        import pypdfium2 as pdfium

        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: PDF folder not found")
        self.long_side = long_side
        self.cache_dir = Path(cache_dir) / "pdf_pages" if cache_dir else None
        self.pages: list[tuple[Path, int, str]] = []  # (file, page index, cache key)
        for path in sorted(self.root.rglob("*.pdf")):
            try:
                doc = pdfium.PdfDocument(str(path))
                count = len(doc)
                doc.close()
            except Exception as e:  # noqa: BLE001 - pdfium's errors vary; a bad PDF is skipped, not fatal
                print(f"warning: {path}: unreadable PDF ({e}); skipped", file=sys.stderr)
                continue
            st = path.stat()
            key = hashlib.sha1(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
            self.pages.extend((path, i, key) for i in spread_pages(count, max_pages))
        if not self.pages:
            raise DataError(f"{self.root}: no PDF pages found")
        self.num_classes = len(self.pages)
        self._docs: dict[Path, object] = {}  # opened lazily in each worker process

    def __len__(self) -> int:
        return len(self.pages)

    def families(self) -> np.ndarray:
        """Each class's (page's) family id: the pages of one PDF are a family."""
        ids: dict[Path, int] = {}
        return np.array([ids.setdefault(path, len(ids)) for path, _, _ in self.pages])

    def close(self) -> None:
        for doc in self._docs.values():
            doc.close()
        self._docs.clear()

    def __del__(self):
        # At interpreter shutdown pdfium may be torn down already.
        with contextlib.suppress(Exception):
            self.close()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_docs"] = {}  # pdfium handles do not cross process boundaries
        return state

    def render(self, index: int, long_side: int | None = None) -> Image.Image:
        """Page ``index`` rendered afresh (no cache), at ``long_side`` pixels if given."""
        path, page_index, _ = self.pages[index]
        return self._render(path, page_index, long_side)

    def name(self, index: int) -> str:
        path, page_index, _ = self.pages[index]
        return f"{path.stem}_p{page_index + 1}"

    def _render(self, path: Path, page_index: int, long_side: int | None = None) -> Image.Image:
        import pypdfium2 as pdfium

        if path not in self._docs:
            self._docs[path] = pdfium.PdfDocument(str(path))
        page = self._docs[path][page_index]
        try:
            width, height = page.get_size()
            scale = (long_side or self.long_side) / max(width, height)
            image = page.render(scale=scale, draw_annots=True).to_pil()
        finally:
            page.close()
        return image.convert("RGB")

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        path, page_index, key = self.pages[index]
        if self.cache_dir is None:
            return self._render(path, page_index), index
        cached = self.cache_dir / f"{key}-p{page_index}-{self.long_side}.png"
        if cached.is_file():
            with Image.open(cached) as im:
                return im.convert("RGB"), index
        image = self._render(path, page_index)
        cached.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".png.tmp", dir=cached.parent)
        with os.fdopen(fd, "wb") as f:
            image.save(f, format="PNG")
        os.replace(tmp, cached)  # workers may race on a page: either copy is the same image
        return image, index


def choose_distinct(source: PdfPagesSource, count: int, rng: np.random.Generator, long_side: int | None = None):
    """``count`` pages of ``source`` drawn at random (``rng.choice`` without replacement), each one
    ``DistinctPages`` turns away replaced in its place by the next of the other pages in a random
    order, so a draw that holds no blank or repeated page is the plain draw. Returns a list of
    (index, page rendered at ``long_side``), shorter when the source runs out, and the filter (its
    counts say what was skipped)."""
    keep = DistinctPages()
    first = rng.choice(len(source), min(count, len(source)), replace=False)
    spare = iter(rng.permutation(np.setdiff1d(np.arange(len(source)), first)).tolist())
    chosen: list[tuple[int, Image.Image]] = []
    for index in first.tolist():
        while index is not None:
            try:
                image = source.render(index, long_side)
            except Exception:  # noqa: BLE001 - pdfium's errors vary; a page it cannot draw is skipped
                keep.unreadable += 1
                image = None
            if image is not None and keep.admit(image):
                chosen.append((index, image))
                break
            index = next(spare, None)
    return chosen, keep


def export_pages(
    root: str | Path, out: str | Path, long_side: int, max_pages: int = 0, distinct: bool = False
) -> tuple[int, DistinctPages | None]:
    """Render the pages ``PdfPagesSource`` would train on into ``out/<file>_p<page>.png`` (the
    PDF's path under ``root`` joined with '__'); with ``distinct``, only those ``DistinctPages``
    admits, in the source's order (a nearly blank page, or a copy of a page written already, would be
    a class of its own that no training step can tell from another). Returns how many were written,
    and the filter when there was one (its counts say what was skipped)."""
    from tqdm import tqdm

    source = PdfPagesSource(root, long_side, cache_dir=None, max_pages=max_pages)
    keep = DistinctPages() if distinct else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for index in tqdm(range(len(source)), desc="pages", unit="page"):
        path, page_index, _ = source.pages[index]
        image = source.render(index)
        if keep is not None and not keep.admit(image):
            continue
        stem = "__".join(path.relative_to(source.root).with_suffix("").parts)
        image.save(out / f"{stem}_p{page_index + 1}.png")
        written += 1
    source.close()
    return written, keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render PDF pages into an image folder, one PNG per page.")
    parser.add_argument("root", help="folder of PDF files (searched recursively)")
    parser.add_argument("--out", required=True, help="folder to write the pages to")
    parser.add_argument("--long-side", type=int, default=144, help="pixels (training uses 1.5 × image_size)")
    parser.add_argument("--max-pages", type=int, default=0, help="at most this many pages per file, evenly spread")
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="leave out nearly blank pages and pages that repeat one written already (DistinctPages)",
    )
    args = parser.parse_args(argv)
    try:
        count, keep = export_pages(args.root, args.out, args.long_side, args.max_pages, args.distinct)
    except DataError as e:
        print(f"data.pdf: error: {e}", file=sys.stderr)
        return 2
    print(f"{count} pages written to {args.out}" + (f" ({keep.skipped()})" if keep is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
