"""Multi-page inputs for infer.py: PDF pages and TIFF frames as images, page ranges, and consecutive
pages of one type grouped into documents. NumPy-free, torch-free: Pillow, and pypdfium2 for PDFs
(imported only when a PDF is read).

    from documents import Page, pages_of, render, group_documents
    for page in pages_of("scan.pdf", parse_pages("1-3,7")):  # Page("scan.pdf", 0), ...
        image = render(page, short_side=192)                 # one page at a time, never the whole file

A page is rendered at the resolution asked for (the model needs its input size twice over on the
short side; the second look a long side of a few hundred pixels), so a 500-page PDF costs one small
bitmap at a time. pdfium is not thread-safe: every call into it holds one lock, and the last opened
document is kept open for the next page.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

PDF_SUFFIXES = {".pdf"}
TIFF_SUFFIXES = {".tif", ".tiff"}
DEFAULT_DPI = 150  # a page rendered without a size asked for
MAX_DPI = 600  # a tiny page asked for a large size is not rendered bigger than this
PAGE_SUFFIX = re.compile(r"^(?P<file>.+)#page=(?P<n>[1-9][0-9]*)$")


class DocumentError(Exception):
    """A multi-page file that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Page:
    """Page ``index`` (0-based) of a PDF or a multi-page TIFF."""

    path: Path
    index: int

    @property
    def number(self) -> int:
        return self.index + 1

    def __str__(self) -> str:
        return f"{self.path}#page={self.number}"


def page_key(key: str) -> tuple[str, int | None]:
    """``"form.pdf#page=2"`` → ``("form.pdf", 1)``; a plain file name → ``(name, None)``."""
    m = PAGE_SUFFIX.match(key)
    return (m["file"], int(m["n"]) - 1) if m else (key, None)


def is_multipage(path: Path) -> bool:
    """A file that may hold several pages (PDF, TIFF): its pages are the inputs, not the file."""
    return path.suffix.lower() in PDF_SUFFIXES | TIFF_SUFFIXES


# ------------------------------------------------------------------------------------ page ranges


@dataclass(frozen=True)
class PageRange:
    """Pages chosen by ``--pages``: 1-based closed ranges, ``None`` as an end meaning the last page."""

    ranges: tuple[tuple[int, int | None], ...]
    text: str

    def select(self, count: int) -> list[int]:
        """The 0-based indices of a ``count``-page file within the ranges, in page order."""
        chosen: set[int] = set()
        for first, last in self.ranges:
            chosen.update(range(first - 1, min(count, last if last is not None else count)))
        return sorted(chosen)


def parse_pages(text: str) -> PageRange:
    """``"1-3,7"``, ``"2-"`` (2 to the end), ``"5"`` → a PageRange; a bad spec is a ValueError."""
    ranges = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"([0-9]+)(?:(-)([0-9]*))?", part)
        if not m:
            raise ValueError(f"--pages: '{part}' is not a page or a range (e.g. 1-3,7 or 2-)")
        first = int(m[1])
        last = first if m[2] is None else (int(m[3]) if m[3] else None)
        if first < 1 or (last is not None and last < first):
            raise ValueError(f"--pages: '{part}': pages count from 1 and a range runs upwards")
        ranges.append((first, last))
    return PageRange(tuple(ranges), text)


# ------------------------------------------------------------------------------------ PDF and TIFF

_PDF_LOCK = threading.Lock()
_closing_registered = False
_open_pdf: tuple[tuple, object] | None = None  # ((path, size, mtime), pdfium document) of the last page read


def _pdfium():
    global _closing_registered
    try:
        import pypdfium2
    except ImportError:
        return None
    if not _closing_registered:  # after pypdfium2's own exit handler, so ours runs first (last in, first out)
        atexit.register(_close_open_pdf)
        _closing_registered = True
    return pypdfium2


def _describe_pdf_failure(path: Path) -> str:
    """What is wrong with a PDF that pdfium could not load, from the file itself."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
    except OSError as e:
        return f"{path}: cannot read ({e.strerror or e})"
    if b"%PDF" not in head:
        return f"{path}: not a PDF file"
    if b"/Encrypt" in tail or b"/Encrypt" in head:
        return f"{path}: encrypted PDF (a password is needed to open it)"
    # pdfium's own error code is unreliable here (a zero-page file reports none, or the code of an
    # earlier failure), so it is not quoted.
    return f"{path}: damaged PDF, or one without pages (PDFium cannot open it)"


def _pdf(path: Path):
    """The open pdfium document of ``path`` (call with _PDF_LOCK held). The last one stays open for
    the next page while the file is unchanged (same size and modification time)."""
    global _open_pdf
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except OSError as e:
        raise DocumentError(f"{path}: cannot read ({e.strerror or e})") from None
    key = (path, st.st_size, st.st_mtime_ns)
    if _open_pdf is not None and _open_pdf[0] == key:
        return _open_pdf[1]
    pdfium = _pdfium()
    if pdfium is None:
        raise DocumentError(f"{path}: reading PDFs needs pypdfium2 (pip install pypdfium2)")
    try:
        document = pdfium.PdfDocument(str(path))
    except Exception:  # noqa: BLE001 - pdfium raises its own error types
        raise DocumentError(_describe_pdf_failure(path)) from None
    _close_open_pdf()
    _open_pdf = (key, document)
    return document


def _close_open_pdf() -> None:
    global _open_pdf
    if _open_pdf is not None:
        _open_pdf[1].close()
        _open_pdf = None


@contextmanager
def _reading_tiff(path: Path, name: str, what: str) -> Iterator[None]:
    """Pillow's errors while reading ``path`` as one-line ``DocumentError``s: ``name`` is the file or
    page named in them, ``what`` what could not be read."""
    try:
        yield
    except EOFError:
        raise DocumentError(f"{name}: the TIFF has fewer frames") from None
    except FileNotFoundError:
        raise DocumentError(f"{path}: no such file") from None
    except PermissionError:
        raise DocumentError(f"{path}: permission denied") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DocumentError(f"{name}: unreadable {what} ({e})") from None


def release() -> None:
    """Close the PDF kept open for the next page (before forking processes that read PDFs too)."""
    with _PDF_LOCK:
        _close_open_pdf()


def page_count(path: Path) -> int:
    """Pages of a PDF, frames of a TIFF (1 for any other image)."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        with _PDF_LOCK:
            return len(_pdf(path))
    if suffix in TIFF_SUFFIXES:
        with _reading_tiff(path, str(path), "TIFF"), Image.open(path) as im:
            return getattr(im, "n_frames", 1)
    return 1


def pages_of(path: str | Path, pages: PageRange | None = None, first_only: bool = False) -> list[Path | Page]:
    """The inputs a file stands for: every chosen page of a PDF (a PDF is always pages, even of one);
    every chosen frame of a TIFF with more than one frame; the file itself otherwise."""
    path = Path(path)
    if not is_multipage(path):
        return [path]
    count = page_count(path)
    if count == 0:
        raise DocumentError(f"{path}: PDF has no pages (empty or damaged)")
    if count == 1 and path.suffix.lower() in TIFF_SUFFIXES:
        return [path]  # a plain one-frame TIFF: an image like any other
    indices = [0] if first_only else (pages.select(count) if pages is not None else list(range(count)))
    if not indices:
        raise DocumentError(f"{path}: none of its {count} pages is in --pages {pages.text}")
    return [Page(path, i) for i in indices]


def render(page: Page, short_side: int | None = None, long_side: int | None = None) -> Image.Image:
    """Page ``page`` as an RGB image: a PDF page rasterised so its short side is at least
    ``short_side`` pixels (or its long side ``long_side``; else at 150 dpi), at most 600 dpi; a TIFF
    frame as stored (EXIF orientation applied)."""
    if page.path.suffix.lower() in PDF_SUFFIXES:
        with _PDF_LOCK:
            document = _pdf(page.path)
            if not 0 <= page.index < len(document):
                raise DocumentError(f"{page}: the PDF has {len(document)} pages")
            try:
                pdf_page = document[page.index]
                width, height = pdf_page.get_size()  # points, 1/72 inch
                scale = DEFAULT_DPI / 72
                if short_side:
                    scale = short_side / max(min(width, height), 1e-3)
                elif long_side:
                    scale = long_side / max(width, height, 1e-3)
                scale = min(scale, MAX_DPI / 72)
                image = pdf_page.render(scale=scale).to_pil()
                pdf_page.close()
            except Exception as e:  # noqa: BLE001 - a page pdfium cannot draw
                raise DocumentError(f"{page}: cannot render this page ({str(e).splitlines()[0][:120]})") from None
        return image.convert("RGB")
    with _reading_tiff(page.path, str(page), "TIFF frame"), Image.open(page.path) as im:
        im.seek(page.index)
        return ImageOps.exif_transpose(im).convert("RGB")


# ------------------------------------------------------------------------------------ documents


def group_documents(results: list[dict]) -> list[dict]:
    """Consecutive page results of one file with the same label (None for unknown) as one document:
    ``{"path", "label", "pages": [first, last]}``, in input order. A page that could not be read
    (``"error"``), or a page left out by ``--pages``, ends the document before it."""
    documents: list[dict] = []
    current: dict | None = None
    for r in results:
        if "page" not in r or "error" in r:
            current = None
            continue
        if (
            current is not None
            and current["path"] == r["path"]
            and current["label"] == r["label"]
            and current["pages"][1] + 1 == r["page"]
        ):
            current["pages"][1] = r["page"]
        else:
            current = {"path": r["path"], "label": r["label"], "pages": [r["page"], r["page"]]}
            documents.append(current)
    return documents
