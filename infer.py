"""Which registered document type is this image? ONNX Runtime, NumPy and Pillow only (no torch).

    python infer.py photo.jpg                          # shipped model and sample register
    python infer.py a.jpg b.png scans/ --register my_register/ --top-k 3 --json

Register: one example image per type in a folder, the label taken from the file name
(``register/invoice_acme.png`` → ``invoice_acme``); a sub-folder is one type with several examples
(``register/passport/*.jpg`` → ``passport``, scored by its best example). Embeddings of the register
are cached in the folder (``.docclassifier-cache.npz``) and recomputed only for files, or a model,
that changed.

Score: (cos + 1) / 2 of the two embeddings, in [0, 1] as in the original DocClassifier; a match needs
score ≥ threshold, else the answer is "unknown". The threshold follows the register's size: the
model's metadata holds a table (policy.py) of the thresholds that let a given share of unknown
documents through (``--fpr``, default 0.02) for each number of registered types; ``--threshold`` or
the register's settings file (``docclassifier.yaml``) fix one instead. The table is the one for what
the register holds (``--calibration`` or the settings' ``calibration:``): forms (designs of one kind of
document), pages (pages of different documents), or any, the default, the stricter of the two. When
the best two types score within a margin (from the same table) the answer is flagged ambiguous and
names both.

Close calls (the best two types within a margin) are looked at again, on by default: the header
check (``HeaderCheck``, ``--no-header-check``) embeds the tops of the pages on their own, then the
palette check (``PaletteCheck``, ``--no-palette``) compares colours; each only lowers the scores of
the candidates whose evidence fits worse.

Second look (``--second-look``, ``DocClassifier(..., second_look=True)``; off by default, needs
OpenCV): when the best two types score within a margin, the best few are compared again by ORB
keypoints and a homography against their register examples, and the geometric evidence raises
their scores (``SecondLook`` gives the formula).

PDFs and multi-page TIFFs (documents.py): every page is an input of its own (``--pages 1-3,7`` to
choose), rendered at the size the model needs, one at a time; consecutive pages of one file with the
same answer are one document (``documents`` in ``--json``). In the register, ``form.pdf`` makes each
of its pages an example of ``form`` (``--register-pages first``: the first only).

Python API::

    from infer import DocClassifier, input_pages
    clf = DocClassifier("assets/model.onnx", "register")
    label, score = clf.classify("photo.jpg")      # label is None for "unknown"
    pages = input_pages(Path("scan.pdf"))         # [Page(scan.pdf, 0), ...]: inputs like paths
    answers = clf.classify_batch(pages)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnxruntime as ort
from PIL import ExifTags, Image, ImageEnhance, ImageFilter, ImageOps

from atomic import atomic_path
from documents import (
    PDF_SUFFIXES,
    DocumentError,
    Page,
    PageRange,
    group_documents,
    page_key,
    pages_of,
    parse_pages,
    render,
)
from policy import (
    CALIBRATIONS,
    DEFAULT_CALIBRATION,
    DEFAULT_FPR,
    SETTINGS_NAME,
    DecisionTable,
    PolicyError,
    RegisterSettings,
    decide,
    declared_calibration,
    load_settings,
    resolve_policy,
    table_for,
    tables_from_json,
)
from report import THUMB_SIDE, thumbnail, write_report

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE / "assets" / "model.onnx"
DEFAULT_REGISTER = HERE / "register"
FALLBACK_THRESHOLD = 0.85  # only for models whose metadata records no threshold
CACHE_NAME = ".docclassifier-cache.npz"
RECORD_ARRAYS = ("embedding", "keypoints", "header", "view")  # a cache record's arrays, beside its file's facts
# A JPEG is decoded at a reduced scale (libjpeg's DCT scaling) while both sides stay at least this
# many times the model's input: a 1200×1600 photo for a 96 px model decodes at 300×400, decoding and
# resizing take a quarter of the time, and the embedding stays within cosine 0.9997 of a full decode's
# (bench/inference.py, BENCHMARKS.md).
DECODE_GAP = 2
# register_view's recipe and how its views are ranked: views and scores cached under another are made again
VIEW_VERSION = 2
FP16_BLOCK_ROWS = 4096  # float16 bank rows widened per block: 4096 × 128 × 4 bytes = 2 MiB
LOOK_ALIKE_BLOCK = 1 << 22  # scores held at once when the register is checked for look-alikes (16 MiB)
LOOK_ALIKE_MAX_PAIRS = 2_000_000_000  # more example pairs than this (about 10 s here) are not checked
LOOK_ALIKE_JSON_MAX = 5_000  # --json lists the register's look-alike pairs up to this many examples (~0.1 s)
# The same list as data/folder.py (infer.py cannot import the training package: it needs torch).
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | PDF_SUFFIXES  # what folders are searched for (PDFs: every page)


class InferError(Exception):
    """A user-facing problem: the message names the file and says what is wrong, in one line."""


@dataclass
class Match:
    label: str | None  # None: nothing reached the threshold ("unknown")
    score: float  # best score, in [0, 1]
    top: list[tuple[str, float]] = field(default_factory=list)  # best labels first
    second_look: dict | None = None  # with the second look on: whether it ran, and its evidence
    palette: dict | None = None  # with the palette check on and a close call: the colour evidence
    header: dict | None = None  # with the header check on and a close call: the header strips' evidence
    ambiguous: bool = False  # accepted, but the runner-up is within the margin: a close call
    runner_up: tuple[str, float] | None = None  # the other candidate of a close call


@dataclass(frozen=True)
class Policy:
    """What decides the answers for the register as it is now (``DocClassifier.policy()``)."""

    threshold: float  # accept the best type when its score reaches this
    margin: float  # the best two within this: ambiguous
    size: int  # registered types
    source: str  # where the threshold comes from
    fpr: float | None = None  # the share of unknown documents it lets through, when from the table
    per_type: dict[str, float] = field(default_factory=dict)  # the settings file's own thresholds
    calibration: str | None = None  # the kind of register the model's table was for, when one was used

    def to_dict(self) -> dict:
        return {
            "threshold": round(self.threshold, 6),
            "margin": round(self.margin, 6),
            "register_size": self.size,
            "fpr": self.fpr,
            "calibration": self.calibration,
            "source": self.source,
            "per_type": self.per_type,
        }


# --------------------------------------------------------------------------------------------
# Images and preprocessing


def decode_size(input_size: int) -> int:
    """The smallest side a file is decoded at for a model that takes ``input_size`` pixels."""
    return DECODE_GAP * input_size


def open_image(image: str | os.PathLike | Image.Image | Page, min_size: int | None = None) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or a ``Page`` of a PDF or TIFF, EXIF orientation
    applied. With ``min_size``, a JPEG file is decoded at 1/2, 1/4 or 1/8 scale when both sides stay
    ≥ ``min_size`` and a PDF page rendered with its short side at least that (other formats and PIL
    images are left as they are)."""
    if isinstance(image, Page):
        return _render(image, short_side=min_size)

    def draft(im: Image.Image) -> None:
        if min_size:
            im.draft("RGB", (min_size, min_size))  # a no-op for anything but JPEG

    return _open(image, "RGB", draft)


def open_gray(image: str | os.PathLike | Image.Image, long_side: int) -> np.ndarray:
    """A path, PIL image or ``Page`` as a grey uint8 array whose longer side is ``long_side`` (EXIF
    orientation applied; a JPEG file decoded straight to grey at the smallest DCT scale that keeps
    that side, a PDF page rendered at that size)."""
    if isinstance(image, Page):
        image = _render(image, long_side=long_side)

    def draft(im: Image.Image) -> None:
        w, h = im.size
        scale = long_side / max(w, h, 1)
        if scale < 1:
            im.draft("L", (max(1, int(np.ceil(w * scale))), max(1, int(np.ceil(h * scale)))))

    im = _open(image, "L", draft)
    w, h = im.size
    scale = long_side / max(w, h)
    return np.asarray(im.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR))


def _render(page: Page, short_side: int | None = None, long_side: int | None = None) -> Image.Image:
    try:
        return render(page, short_side, long_side)
    except DocumentError as e:
        raise InferError(str(e)) from None


def input_pages(path: Path, pages: PageRange | None = None, first_only: bool = False) -> list[Path | Page]:
    """What one input file stands for: a PDF's pages, a multi-frame TIFF's frames (those in ``pages``,
    or the first only), or the file itself."""
    try:
        return pages_of(path, pages, first_only)
    except DocumentError as e:
        raise InferError(str(e)) from None


def expand_inputs(files: Iterable[Path], warn, pages: PageRange | None = None) -> list[Path | Page]:
    """Every input the files stand for (``input_pages``); a file that cannot be opened is warned
    about and left out."""
    out: list[Path | Page] = []
    for file in files:
        try:
            out.extend(input_pages(file, pages))
        except InferError as e:
            warn(f"{e}; skipped")
    return out


def _open(image: str | os.PathLike | Image.Image, mode: str, draft: Callable[[Image.Image], None]) -> Image.Image:
    """``image`` in ``mode``, EXIF orientation applied; ``draft`` may set up a file's decoder first.
    Every problem with a file is an ``InferError`` naming it."""
    if isinstance(image, Image.Image):
        return _upright(image).convert(mode)
    if hasattr(image, "read"):  # a file object (an upload in memory): decoded like a file, unnamed
        source, name = image, ""
    else:
        path = Path(image)
        if path.is_dir():
            raise InferError(f"{path}: is a folder, not an image")
        if not path.exists():
            raise InferError(f"{path}: no such file")
        if path.suffix.lower() in PDF_SUFFIXES:
            raise InferError(f"{path}: a PDF is pages, not one image (give its pages: input_pages)")
        source, name = path, f"{path}: "
    try:
        with Image.open(source) as im:
            draft(im)
            im = _upright(im)
            if im.mode == mode:  # decoded straight into it (a colour JPEG as RGB): no copy to make
                im.load()
                return im
            return im.convert(mode)
    except PermissionError:
        raise InferError(f"{name}permission denied") from None
    except Image.DecompressionBombError as e:
        raise InferError(f"{name}image too large ({e})") from None
    except (OSError, ValueError, SyntaxError) as e:  # PIL's "cannot identify", truncated data, bad headers
        reason = "not an image file" if "cannot identify" in str(e) else f"unreadable image ({e})"
        raise InferError(f"{name}{reason}") from None


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; the image itself when it says nothing to do
    (``ImageOps.exif_transpose`` would copy it anyway)."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in (0, 1):
        return image
    return ImageOps.exif_transpose(image)


def pad_to_square(image: Image.Image) -> Image.Image:
    """The image centred on a square of its border's median colour: data/transforms.py's
    ``pad_to_square`` (training's ``data.letterbox``), repeated here because this file runs without torch."""
    w, h = image.size
    if w == h:
        return image
    a = np.asarray(image)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    fill = tuple(int(v) for v in np.median(border, axis=0))
    side = max(w, h)
    out = Image.new("RGB", (side, side), fill)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out


@dataclass(frozen=True)
class Preprocess:
    """Exactly what training's evaluation transform does, read from the model's metadata:
    [pad to a square of the border's colour,] PIL bilinear resize to size × size, RGB, scale by
    1/255, (x − mean) / std, CHW float32."""

    size: int
    mean: np.ndarray
    std: np.ndarray
    letterbox: bool = False

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Preprocess:
        if meta.get("channel_order", "RGB") != "RGB" or meta.get("resize", "bilinear") != "bilinear":
            raise InferError(f"unsupported preprocessing in model metadata: {meta}")
        mean = np.asarray(json.loads(meta["mean"]), dtype=np.float32).reshape(3, 1, 1)
        std = np.asarray(json.loads(meta["std"]), dtype=np.float32).reshape(3, 1, 1)
        return cls(int(meta["input_size"]), mean, std, meta.get("letterbox", "0") == "1")

    def __call__(self, image: Image.Image) -> np.ndarray:
        if self.letterbox:
            image = pad_to_square(image)
        image = image.resize((self.size, self.size), Image.BILINEAR)
        x = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
        return (x - self.mean) / self.std


# --------------------------------------------------------------------------------------------
# The model


class OnnxModel:
    """An exported DocClassifier embedding model in ONNX Runtime."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise InferError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        # Threads that wait for the next batch sleep instead of spinning: image files are decoded
        # on other threads meanwhile (read_ahead), and spinning would take their cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise InferError(f"{self.path}: not a valid ONNX model ({str(e).splitlines()[0][:200]})") from None
        self.meta = self.session.get_modelmeta().custom_metadata_map
        required = {"input_size", "mean", "std", "embed_dim"}
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if not required <= set(self.meta) or len(inputs) != 1 or len(outputs) != 1 or len(inputs[0].shape) != 4:
            raise InferError(f"{self.path}: not a DocClassifier embedding model (export it with export_onnx.py)")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.preprocess = Preprocess.from_metadata(self.meta)
        self.decode_size = decode_size(self.preprocess.size)
        self.embed_dim = int(self.meta["embed_dim"])
        # A graph edited or exported apart from its metadata: say so now, not as a shape error later.
        size, expected = inputs[0].shape[1:], (3, self.preprocess.size, self.preprocess.size)
        if any(isinstance(d, int) and d != e for d, e in zip(size, expected, strict=True)):
            raise InferError(
                f"{self.path}: the model takes {'×'.join(map(str, size))} inputs but its metadata says "
                f"{'×'.join(map(str, expected))} (input_size {self.preprocess.size}); re-export it with export_onnx.py"
            )
        dim = outputs[0].shape[-1] if len(outputs[0].shape) == 2 else None
        if isinstance(dim, int) and dim != self.embed_dim:
            raise InferError(f"{self.path}: the model gives {dim}-d embeddings but its metadata says {self.embed_dim}")
        self.threshold = float(self.meta["threshold"]) if "threshold" in self.meta else None
        # Thresholds by register size and false-accept target (policy.py): "any" for a register of any
        # kind (older models have only this one, and the oldest none), and one per kind of register
        # the model was calibrated for (decision_tables).
        self.tables: dict[str, DecisionTable] = {}
        try:
            if "decision_tables" in self.meta:
                self.tables.update(tables_from_json(self.meta["decision_tables"]))
            if "decision_table" in self.meta:
                self.tables[DEFAULT_CALIBRATION] = DecisionTable.from_json(self.meta["decision_table"])
        except PolicyError as e:
            raise InferError(f"{self.path}: {e}") from None
        self.fingerprint = hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def table(self) -> DecisionTable | None:
        """The table for a register of any kind (None in a model that records none)."""
        return self.tables.get(DEFAULT_CALIBRATION)

    def load(self, image) -> np.ndarray:
        """A path or PIL image → the (3, H, W) array the model takes."""
        return self.preprocess(open_image(image, self.decode_size))

    def decode(self, image) -> tuple[Image.Image, np.ndarray]:
        """A path, page or PIL image → the picture decoded for the model, and its (3, H, W) array."""
        picture = open_image(image, self.decode_size)
        return picture, self.preprocess(picture)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) preprocessed → (N, D) unit vectors."""
        (out,) = self.session.run([self.output_name], {self.input_name: batch})
        return out.astype(np.float32, copy=False)


def read_ahead(items: Iterable, load: Callable, workers: int, ahead: int) -> Iterator:
    """``load(item)`` for each item, in order, computed on ``workers`` threads at most ``ahead`` items
    before the consumer (Pillow releases the GIL while it decodes and resizes, so files are read in
    parallel and while the model runs; memory stays bounded on a folder of any size). Yields each
    result, or the ``InferError`` that item raised."""

    def attempt(item):
        try:
            return load(item)
        except InferError as e:
            return e

    if workers <= 1:
        yield from map(attempt, items)
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="docclassifier-read") as pool:
        queue: deque = deque()
        for item in items:
            queue.append(pool.submit(attempt, item))
            if len(queue) > ahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


# --------------------------------------------------------------------------------------------
# The palette check: colour on close calls

PALETTE_BINS = 24  # hue bins of a palette signature
PALETTE_SIDE = 64  # pixels on the long side a palette is read at
PALETTE_MAX_GAIN = 1.15  # the white balance corrects each channel by at most ±15 %


def register_view(image: Image.Image, label: str) -> Image.Image:
    """A registered example as a phone might deliver it (the self-calibration's view of it,
    ``DocClassifier.own_scores``): the corners moved by up to 4 % of the sides, a blur of 0.08 % of
    the long side, brightness ×0.85 to 1.1; the same for the same label on every run."""
    rng = np.random.default_rng(zlib.crc32(label.encode("utf-8")))
    image = image.convert("RGB")
    w, h = image.size
    quad = [
        c + rng.uniform(-0.04, 0.04) * side for x, y in ((0, 0), (0, h), (w, h), (w, 0)) for c, side in ((x, w), (y, h))
    ]
    image = image.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BILINEAR, fillcolor=(40, 40, 40))
    image = image.filter(ImageFilter.GaussianBlur(0.0008 * max(w, h)))
    return ImageEnhance.Brightness(image).enhance(float(rng.uniform(0.85, 1.1)))


def kept_rows(items: Sequence) -> np.ndarray:
    """For a register cache's per-file list with gaps (None): each file's row among the items kept,
    -1 where it has none."""
    present = np.array([item is not None for item in items], bool)
    rows = np.cumsum(present) - 1
    rows[~present] = -1
    return rows


class ViewFeatures(NamedTuple):
    """What the checks read of a register view (``DocClassifier.own_scores``), kept so that the
    view is drawn once per example: its header strip's embedding and its palette (None: that
    check is off)."""

    header: np.ndarray | None
    palette: np.ndarray | None


def palette_signature(image) -> np.ndarray:
    """What colours a document is printed in: a hue histogram (``PALETTE_BINS`` bins, each pixel
    shared between its two nearest, weighted by how saturated and how bright it is, summing to 1),
    then the share of coloured pixels; (PALETTE_BINS + 1,) float32. Grey, black and white pixels
    count for nothing, so paper tone and ink do not matter. The light's colour is taken out first:
    the paper (the brightest quarter of the pixels) is made grey by a gain per channel of at most
    ``PALETTE_MAX_GAIN``, enough for a lamp's or a phone's white balance (a few per cent) and too
    little to bleach a page that is coloured all over. ``image``: a path, ``Page`` or PIL image."""
    im = open_image(image, 2 * PALETTE_SIDE)
    im = im.resize(_fit(im.size, PALETTE_SIDE), Image.BILINEAR)
    rgb = np.asarray(im, np.float32).reshape(-1, 3) / 255.0
    brightness = rgb.mean(1)
    paper = rgb[brightness >= np.quantile(brightness, 0.75)].mean(0)
    gains = np.clip(paper.mean() / np.maximum(paper, 1e-3), 1 / PALETTE_MAX_GAIN, PALETTE_MAX_GAIN)
    rgb = np.clip(rgb * gains, 0.0, 1.0)
    v, low = rgb.max(1), rgb.min(1)
    chroma = v - low
    sat = np.where(v > 0, chroma / np.maximum(v, 1e-6), 0.0)
    r, g, b = rgb.T
    safe = np.maximum(chroma, 1e-6)
    hue = np.where(v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6.0
    weight = np.clip((sat - 0.2) / 0.3, 0, 1) * np.clip((v - 0.15) / 0.2, 0, 1)
    pos = hue * PALETTE_BINS
    lo = np.floor(pos).astype(np.int64) % PALETTE_BINS
    frac = pos - np.floor(pos)
    hist = np.bincount(lo, weight * (1 - frac), PALETTE_BINS) + np.bincount(
        (lo + 1) % PALETTE_BINS, weight * frac, PALETTE_BINS
    )
    total = hist.sum()
    out = np.zeros(PALETTE_BINS + 1, np.float32)
    if total > 1e-6:
        out[:PALETTE_BINS] = hist / total
    out[PALETTE_BINS] = total / len(weight)
    return out


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = size
    scale = long_side / max(w, h, 1)
    return max(1, round(w * scale)), max(1, round(h * scale))


@dataclass(frozen=True)
class PaletteCheck:
    """Colour on close calls: when the best two types score within ``margin``, each of the best ``k``
    loses ``weight`` × (s_best − s) of its score, s being the histogram intersection of the query's
    and the type's nearest example's palettes (``palette_signature``) and s_best the highest s among
    the k; then they are re-ranked. The candidate whose colours fit best keeps its score, so a right
    answer is accepted as often as without the check.
    The embedding is nearly blind to palette (an invoice design in teal and its rebrand in orange
    score alike), which this puts back. A query with no colour (under ``min_colour`` of its pixels:
    a grey scan; thin coloured print on white is well above it) is left alone; against an example
    with no colour, the similarity is 0.5. Scores only go down, so the decision policy's
    false-accept rate holds. Calibrated on validation look-alikes (``bench/palette.py``)."""

    margin: float = 0.08
    k: int = 5
    weight: float = 0.12
    min_colour: float = 0.001

    def __post_init__(self):
        check_close_call_settings("palette check", self)

    def similarity(self, query: np.ndarray, example: np.ndarray) -> float:
        q_colour, e_colour = query[-1] >= self.min_colour, example[-1] >= self.min_colour
        if not e_colour:
            return 0.5
        return float(np.minimum(query[:-1], example[:-1]).sum()) if q_colour else 1.0

    def triggers(self, top: Sequence[tuple[str, float]]) -> bool:
        return is_close_call(top, self.margin)

    def rescore(self, top: Sequence[tuple], query: np.ndarray, examples: Sequence[Sequence[np.ndarray]]) -> list[tuple]:
        """The first ``len(examples)`` of ``top`` (label, score; best first) re-scored by the query's
        palette against each candidate's examples' palettes (its nearest counts; none: no evidence)
        and re-ranked (``rerank``)."""
        sims = [max((self.similarity(query, e) for e in found), default=None) for found in examples]
        return self.rerank(top, sims)

    def rerank(self, top: Sequence[tuple[str, float]], similarities: Sequence[float | None]) -> list[tuple]:
        """The first ``len(similarities)`` of ``top`` (label, score; best first) with their colour
        similarities (None: no picture), re-scored and re-ranked: (score, rank before, label,
        similarity) tuples, best first; ties keep the embedding's order."""
        return rerank_by(top, similarities, self.weight)


def check_close_call_settings(name: str, check) -> None:
    """A check on close calls (``margin``, ``weight``, ``k``) with settings in range, or a one-line
    ``InferError`` naming it."""
    if not 0.0 <= check.margin <= 1.0 or not 0.0 <= check.weight <= 1.0 or not 2 <= check.k <= 50:
        raise InferError(f"{name}: margin and weight in [0, 1], k in 2..50 (got {check})")


def is_close_call(top: Sequence[tuple[str, float]], margin: float) -> bool:
    """The best two of ``top`` (label, score; best first) within ``margin`` of each other."""
    return len(top) > 1 and top[0][1] - top[1][1] < margin


def rerank_by(top: Sequence[tuple[str, float]], similarities: Sequence[float | None], weight: float) -> list[tuple]:
    """Each of the first ``len(similarities)`` of ``top`` (label, score; best first) loses ``weight`` ×
    (best similarity − its own) (None: no evidence, left as it is), then all are re-ranked: (score,
    rank before, label, similarity) tuples, best first; ties keep the embedding's order. The best
    candidate keeps its score, so scores only go down."""
    best = max((v for v in similarities if v is not None), default=None)
    ranked = []
    for rank, ((label, score), sim) in enumerate(zip(top, similarities, strict=False)):
        new = score if sim is None or best is None else score - weight * (best - sim)
        ranked.append((new, rank, label, sim))
    return sorted(ranked, key=lambda c: (-c[0], c[1]))


def reordered(top: list[tuple[str, float]], indices: np.ndarray, ranked: list[tuple]):
    """A check's re-ranking (``rerank_by``'s tuples for the first ``len(ranked)`` of ``top``) applied
    to a query's list: the (label, score) list, the type indices in the same order, and each
    re-ranked candidate's evidence (label, embedding score, similarity, score)."""
    n = len(ranked)
    reranked = [(label, new) for new, _, label, _ in ranked] + top[n:]
    order = np.array([indices[rank] for _, rank, _, _ in ranked] + list(indices[n:]), np.int64)
    candidates = [
        {"label": label, "embedding_score": top[rank][1], "similarity": sim, "score": new}
        for new, rank, label, sim in ranked
    ]
    # A check only lowers scores, so one it re-scored can fall below types it never looked at: the
    # list stays in score order (as eval.py's score matrix is), so the next check and the decision
    # see the best types as they score now.
    by_score = sorted(range(len(reranked)), key=lambda i: -reranked[i][1])  # stable: ties keep their order
    return [reranked[i] for i in by_score], order[by_score], candidates


# --------------------------------------------------------------------------------------------
# The header check: the top of the page, embedded on its own, on close calls


def header_strip(image: Image.Image, share: float) -> Image.Image:
    """The top ``share`` of a page, full width: issuer, logo and title block."""
    w, h = image.size
    return image.crop((0, 0, w, max(1, round(share * h))))


@dataclass(frozen=True)
class HeaderCheck:
    """The header on close calls: when the best two types score within ``margin``, the top ``strip``
    of the query and of each of the best ``k`` types' examples is embedded on its own by the same
    model (issuer name, logo and title block at the model's full input resolution, where the whole
    page gives them a few rows of pixels), and each candidate loses ``weight`` × (h_best − h), h
    being the header score ((cos + 1) / 2) against the type's nearest example's header and h_best the
    highest among the k; then they are re-ranked. Two designs of one kind share a layout and differ
    most in their headers. Scores only go down, so the decision policy's false-accept rate holds.
    Calibrated on validation look-alikes (``bench/header_check.py``)."""

    margin: float = 0.1
    k: int = 5
    weight: float = 0.75
    strip: float = 0.35

    def __post_init__(self):
        check_close_call_settings("header check", self)
        if not 0.1 <= self.strip <= 0.9:
            raise InferError(f"header check: strip must be in [0.1, 0.9] of the page's height, not {self.strip}")

    def triggers(self, top: Sequence[tuple[str, float]]) -> bool:
        return is_close_call(top, self.margin)

    def strip_of(self, image, input_size: int) -> Image.Image:
        """A path, page or PIL image → its header strip, decoded large enough that the strip keeps
        the detail of a model that takes ``input_size`` pixels."""
        return header_strip(open_image(image, math.ceil(decode_size(input_size) / self.strip)), self.strip)

    def strip_array(self, model: OnnxModel, image) -> np.ndarray:
        """A path, page or PIL image → its header strip as the (3, H, W) array the model takes."""
        return model.preprocess(self.strip_of(image, model.preprocess.size))


# --------------------------------------------------------------------------------------------
# The second look: keypoints and a homography on close calls


@dataclass(frozen=True)
class SecondLook:
    """A second look at close calls: when the best two types score within ``margin`` of each other,
    the best ``k`` are compared again by ORB keypoints (OpenCV, ``features`` per image, both sides
    grey at ``long_side`` px) matched to each candidate's register examples (ratio test) and checked
    by a robust homography (USAC MAGSAC, 1 % of ``long_side`` reprojection error). A type's evidence
    is the inlier count n of its best example above chance (``min_inliers``, what unrelated pages
    reach), as a share of the best candidate's count n_best, or of ``full_inliers`` if that is more:

        g = clip((n − min_inliers) / (max(full_inliers, n_best) − min_inliers), 0, 1)

    so the candidate that agrees best gets g = 1 once it has ``full_inliers``, look-alikes sharing its
    layout get their share of it, and nothing gets any evidence when no candidate rises above chance.
    Its score becomes

        score = 1 − (1 − s) · (1 − weight · g)       s = (cos + 1) / 2, the embedding's score

    The score never falls below s and stays ≤ 1; full geometric agreement closes ``weight`` of the gap
    between s and 1; no evidence leaves s as it was. Candidates are then ordered by it."""

    margin: float = 0.1
    k: int = 5
    weight: float = 0.9
    min_inliers: int = 15
    full_inliers: int = 50
    long_side: int = 512
    features: int = 700

    def __post_init__(self):
        if not self.margin >= 0:
            raise InferError(f"second look: margin must be ≥ 0, not {self.margin}")
        if not 2 <= self.k <= 5:
            raise InferError(f"second look: k must be 2 to 5, not {self.k}")
        if not 0 <= self.weight <= 1:
            raise InferError(f"second look: weight must be in [0, 1], not {self.weight}")
        if not 0 <= self.min_inliers < self.full_inliers:
            raise InferError("second look: need 0 ≤ min_inliers < full_inliers")
        if self.long_side < 64 or self.features < 16:
            raise InferError("second look: long_side ≥ 64 and features ≥ 16")

    def triggers(self, best: float, second: float) -> bool:
        return best - second <= self.margin

    def evidence(self, inliers: int, best: int) -> float:
        """g of a candidate with ``inliers`` when the most any candidate has is ``best``."""
        scale = max(self.full_inliers, best) - self.min_inliers
        return float(np.clip((inliers - self.min_inliers) / scale, 0.0, 1.0))

    def combine(self, score: float, evidence: float) -> float:
        return 1.0 - (1.0 - score) * (1.0 - self.weight * evidence)

    def keypoint_settings(self) -> dict:
        """What a register image's keypoints depend on (kept with them in the register cache)."""
        return {"method": "orb", "long_side": self.long_side, "features": self.features}


RATIO_TEST = 0.75  # a match counts when its distance is under 0.75 of the second nearest's (Lowe)
RANSAC_ERROR = 0.01  # of the long side: 5 px at 512
ORB_BORDER = 31  # ORB's edge threshold (its default): no keypoint within this many pixels of a side


class Keypoints:
    """ORB keypoints of an image and their geometric agreement with another image's (OpenCV, imported
    here: the default path of infer.py never needs it). One detector and matcher per thread."""

    def __init__(self, settings: SecondLook):
        try:
            import cv2
        except ImportError:
            raise InferError(
                "the second look needs OpenCV, which is not installed (pip install opencv-python-headless)"
            ) from None
        self.cv2 = cv2
        self.settings = settings
        self.version = cv2.__version__
        self._local = threading.local()

    def _tools(self):
        tools = getattr(self._local, "tools", None)
        if tools is None:
            cv2 = self.cv2
            tools = self._local.tools = (
                cv2.ORB_create(nfeatures=self.settings.features),
                cv2.BFMatcher(cv2.NORM_HAMMING),
            )
        return tools

    def describe(self, image) -> tuple[np.ndarray, np.ndarray]:
        """A path or PIL image → keypoint positions (N, 2) float32 and ORB descriptors (N, 32) uint8."""
        grey = open_gray(image, self.settings.long_side)
        if min(grey.shape) < 2 * ORB_BORDER + 2:  # a strip: no room for a keypoint (and ORB's pyramid fails)
            return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        try:
            points, descriptors = self._tools()[0].detectAndCompute(grey, None)
        except self.cv2.error as e:
            name = "image" if isinstance(image, Image.Image) else str(image)
            raise InferError(f"{name}: no keypoints ({str(e).strip().splitlines()[-1][:200]})") from None
        if descriptors is None or not points:
            return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        return np.array([p.pt for p in points], np.float32).reshape(-1, 2), descriptors

    def agreement(
        self, query: tuple[np.ndarray, np.ndarray], example: tuple[np.ndarray, np.ndarray]
    ) -> tuple[int, int]:
        """(matches passing the ratio test, of those the inliers of a robust homography)."""
        (q_xy, q_des), (r_xy, r_des) = query, example
        if len(q_des) < 2 or len(r_des) < 2:
            return 0, 0
        cv2 = self.cv2
        pairs = self._tools()[1].knnMatch(q_des, r_des, k=2)
        good = [
            (m.queryIdx, m.trainIdx)
            for m, n in (p for p in pairs if len(p) == 2)
            if m.distance < RATIO_TEST * n.distance
        ]
        if len(good) < 4:
            return len(good), 0
        index = np.array(good)
        _, mask = cv2.findHomography(
            q_xy[index[:, 0]], r_xy[index[:, 1]], cv2.USAC_MAGSAC, RANSAC_ERROR * self.settings.long_side
        )
        return len(good), int(mask.sum()) if mask is not None else 0


# --------------------------------------------------------------------------------------------
# The register


def scan_register(folder: Path, warn) -> list[tuple[str, Path]]:
    """(label, file) for every image: top-level files by stem, sub-folders by folder name."""
    entries: list[tuple[str, Path]] = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            target = child.resolve()
            if child.is_symlink() and (target == folder.resolve() or folder.resolve().is_relative_to(target)):
                warn(f"{child}: links back to {target}, which holds the register (a loop); skipped")
                continue
            # os.walk does not follow symbolic links into folders below, so a link loop cannot trap it.
            for root, dirs, files in os.walk(child):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if Path(name).suffix.lower() in INPUT_EXTENSIONS and not name.startswith("."):
                        entries.append((child.name, Path(root) / name))
        elif child.suffix.lower() in INPUT_EXTENSIONS:
            entries.append((child.stem, child))
    sources: dict[str, set[str]] = {}
    for label, path in entries:
        top = path.relative_to(folder).parts[0]
        sources.setdefault(label, set()).add(top)
    for label, tops in sorted(sources.items()):
        if len(tops) > 1:
            warn(f"{folder}: label '{label}' comes from {', '.join(sorted(tops))}; pooled as one type")
    return entries


def _file_key(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class DocClassifier:
    """Classify document images against a register of example images.

    ``classify(image) -> (label or None, score)``; ``classify_batch``; ``top_k``; ``embed``;
    ``register(label, image)`` / ``unregister(label)`` change the in-memory register only.
    ``header`` (on by default; a ``HeaderCheck``, or False) re-ranks close calls by the tops of the
    pages, then ``palette`` (on by default; a ``PaletteCheck``, or False) by colour;
    ``second_look=True`` (or a ``SecondLook``) re-ranks them by keypoints last (needs OpenCV). They
    need the query image: ``classify``, ``classify_batch``, ``top_k`` and ``match_images`` pass it;
    ``match`` (for embeddings) takes ``images=``.
    """

    def __init__(
        self,
        model: str | os.PathLike | OnnxModel = DEFAULT_MODEL,
        register: str | os.PathLike | None = DEFAULT_REGISTER,
        threshold: float | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        cache: bool = True,
        warn=None,
        bank_dtype: str = "float32",
        read_threads: int | None = None,
        second_look: bool | SecondLook | None = False,
        palette: bool | PaletteCheck | None = True,
        header: bool | HeaderCheck | None = True,
        fpr: float | None = None,
        margin: float | None = None,
        register_pages: str = "all",
        calibration: str | None = None,
        self_calibration: bool | None = None,
    ):
        if bank_dtype not in ("float32", "float16"):
            raise InferError(f"bank_dtype must be float32 or float16, not {bank_dtype!r}")
        for name, value in (("threshold", threshold), ("margin", margin)):  # scores live in [0, 1]
            if value is not None and not 0.0 <= value <= 1.0:
                raise InferError(f"{name} must be in [0, 1], got {value:g}")
        if fpr is not None and not 0.0 < fpr < 1.0:
            raise InferError(f"fpr must be in (0, 1), got {fpr:g}")
        if calibration is not None and calibration not in CALIBRATIONS:
            raise InferError(f"calibration must be one of {', '.join(CALIBRATIONS)}, not {calibration!r}")
        if register_pages not in ("all", "first"):
            raise InferError(f"register_pages must be 'all' or 'first', not {register_pages!r}")
        self.register_pages = register_pages  # a PDF or TIFF in the register: all its pages, or the first
        self.palette = PaletteCheck() if palette is True else (palette or None)
        self._palettes: dict[str, np.ndarray | None] = {}  # bank row key → its example's palette (on first need)
        self._palette_lock = threading.Lock()
        self.header = HeaderCheck() if header is True else (header or None)
        # strip share → bank row key → the header strip's embedding of its example (None: no
        # picture to read); the register folder's files' at load (kept in the register cache), an
        # image's at registration, others on first need
        self._headers: dict[float, dict[str, np.ndarray | None]] = {}
        self._header_lock = threading.Lock()
        # An OnnxModel already loaded may be shared (serve.py builds a classifier per register change).
        self.model = model if isinstance(model, OnnxModel) else OnnxModel(model, threads)
        self._threshold, self._fpr, self._margin = threshold, fpr, margin  # given: these win
        self._calibration = calibration
        self._self_calibration = self_calibration  # None: the settings file's, else on
        self._own: tuple | None = None  # (what own_scores depended on, the scores)
        # The register folder's files as loaded (a digest) and the register's version then: while
        # the register is still that, own_scores can be kept in the register cache.
        self._folder_digest: tuple[str, int] | None = None
        self._cached_own: dict | None = None  # own_scores as the register cache holds them
        # Each example's view as own_scores reads it (row key → embedding, ViewFeatures), for the
        # checks as they were (_view_tag): a changed register draws only its new examples' views.
        self._views: dict[str, tuple[np.ndarray, ViewFeatures]] = {}
        self._view_tag: tuple | None = None
        self._version = 0  # counts changes of the register (for what is worked out from it)
        if calibration is not None:
            self._table_for(calibration, "given")  # a model without it: say so now
        self.settings = RegisterSettings()  # the register folder's docclassifier.yaml, if any
        self._policy_memo: tuple | None = None  # (what the policy depends on, settings, table, policy)
        self.batch_size = batch_size
        self.read_threads = read_threads or os.cpu_count() or 1  # threads decoding image files
        self.warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
        self._labels: list[str] = []  # every label ever added, in order of first appearance
        self._index: dict[str, int] = {}  # label → its position in _labels
        # float16 halves the bank's memory and the bytes a query reads; scores are still float32.
        self._bank = np.zeros((0, self.model.embed_dim), bank_dtype)
        self._owner = np.zeros(0, np.int64)  # row → index into _labels
        self._grouped: tuple[np.ndarray, np.ndarray | None, list[str]] | None = None  # built on first match
        self._rows: tuple[np.ndarray, np.ndarray] | None = None  # bank rows of each grouped type, with _grouped
        # The second look's side of the register: each bank row's image, as a key (the file's path
        # in the register folder, "\0<n>" for an image registered in memory, None for none), and
        # the keypoints of each key once computed, under the settings in _keypoint_settings.
        self._row_key = np.zeros(0, object)
        self._memory_images: dict[str, Path | Image.Image] = {}  # "\0<n>" → what was registered
        self._registered = 0  # images registered in memory so far (numbers their keys)
        self._keypoints: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._keypoint_settings: dict | None = None
        self._second_look: SecondLook | None = None
        self._keypoint_tool: Keypoints | None = None
        self._cache_path: Path | None = None  # the register cache, when one is used
        self.register_dir = Path(register) if register is not None else None
        self.second_look = second_look
        if self.register_dir is not None:
            self._load_register(self.register_dir, cache)

    # ---- the decision policy

    @property
    def threshold(self) -> float:
        return self.policy().threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        self._threshold = value

    def policy(self) -> Policy:
        """The threshold and margin for the register as it is now: given ones first, then the
        register's settings file, then the model's table at the register's size (at ``fpr``, the
        settings' or 0.02; the table for the register's kind, ``calibration``, given or the
        settings', else the one for any register), then the model's single recorded threshold.
        Worked out again only when one of those changed (a query asks for it every time)."""
        size = len(self._grouped_bank()[2]) if len(self._owner) else 0
        s = self.settings
        kind, where = declared_calibration(self._calibration, s)
        table = self._table_for(kind, where)
        key = (size, self._threshold, self._fpr, self._margin, kind, self._self_calibration, self._version)
        memo = self._policy_memo
        if memo is not None and memo[0] == key and memo[1] is s and memo[2] is table:
            return memo[3]
        policy = self._work_out_policy(size, s, table, kind)
        self._policy_memo = (key, s, table, policy)
        return policy

    def _table_for(self, kind: str, where: str) -> DecisionTable | None:
        """The model's table for registers of ``kind`` (None for "any" in a model without tables)."""
        try:
            return table_for(self.model.tables, kind, where)
        except PolicyError as e:
            raise InferError(f"{self.model.path}: {e}") from None

    def _work_out_policy(self, size: int, s: RegisterSettings, table, kind: str) -> Policy:
        m = self.model
        if m.threshold is not None:
            recorded = (m.threshold, "the model's recorded threshold")
        else:
            recorded = (FALLBACK_THRESHOLD, "fallback")
        try:
            r = resolve_policy(
                size,
                table,
                kind,
                s,
                threshold=self._threshold,
                fpr=self._fpr,
                margin=self._margin,
                recorded=recorded,
                own=self.own_scores,  # worked out only where the table decides and the register can say
                self_calibration=self._self_calibration,
            )
        except PolicyError as e:
            raise InferError(f"{m.path}: {e}") from None
        return Policy(r.threshold, r.margin, size, r.source, r.fpr, dict(s.types or {}), r.calibration)

    def look_alikes(self, labels: Iterable[str] | None = None) -> list[tuple[str, str, float]]:
        """Pairs of registered types whose examples score at least the threshold (the lower of the
        two types') against each other, best first: a photo of one may be taken for the other.
        ``labels``: only pairs with one of these types (their examples against the whole bank)."""
        if len(self._owner) == 0:
            return []
        policy = self.policy()
        bank, starts, names = self._grouped_bank()
        rows_per_type = np.diff(np.r_[starts, len(bank)]) if starts is not None else np.ones(len(names), np.int64)
        owner = np.repeat(np.arange(len(names)), rows_per_type)
        needed = np.array([policy.per_type.get(n, policy.threshold) for n in names])
        if labels is None:
            rows = np.arange(len(bank))
        else:
            wanted = np.flatnonzero(np.isin(np.array(names, dtype=object), list(labels)))
            rows = np.flatnonzero(np.isin(owner, wanted))
        block = max(1, LOOK_ALIKE_BLOCK // max(len(bank), 1))  # rows per block: a bounded score matrix
        keys, best = [], []
        for i in range(0, len(rows), block):
            part = rows[i : i + block]
            score = (self._cosines(np.asarray(bank[part], np.float32), bank) + 1.0) / 2.0
            r, c = np.nonzero(score >= needed.min())
            a, b = owner[part[r]], owner[c]
            hit = (a != b) & (score[r, c] >= np.minimum(needed[a], needed[b]))
            low, high = np.minimum(a[hit], b[hit]), np.maximum(a[hit], b[hit])
            keys.append(low * len(names) + high)
            best.append(score[r[hit], c[hit]])
        keys, best = np.concatenate(keys), np.concatenate(best)
        order = np.lexsort((-best, keys))  # by pair, best first
        first = order[np.r_[True, keys[order][1:] != keys[order][:-1]]] if len(order) else order
        pairs = [
            (names[k // len(names)], names[k % len(names)], float(best[j]))
            for k, j in zip(keys[first], first, strict=True)
        ]
        return sorted(pairs, key=lambda p: -p[2])

    def _warn_look_alikes(self, labels: Iterable[str] | None = None) -> None:
        labels = None if labels is None else set(labels)
        examples = (
            len(self._owner) if labels is None else int(np.isin(self._owner, [self._index[lb] for lb in labels]).sum())
        )
        if examples * len(self._owner) > LOOK_ALIKE_MAX_PAIRS:
            self.warn(
                f"{examples:,} new examples are too many to compare with all {len(self._owner):,}; not checked for look-alikes"
            )
            return
        pairs = self.look_alikes(labels)
        for a, b, score in pairs[:10]:
            self.warn(
                f"{a} and {b} look alike (score {score:.3f} against each other, at or above the threshold): a "
                f"photo of one may be taken for the other; give them distinct examples or own thresholds in {SETTINGS_NAME}"
            )
        if len(pairs) > 10:
            self.warn(f"... and {len(pairs) - 10} more pairs of look-alike types")

    # ---- embeddings

    def embed(self, images) -> np.ndarray:
        """Unit-length embeddings (N, D) of paths, PIL images or pages of PDFs and TIFFs (``Page``;
        one input alone → (1, D))."""
        if isinstance(images, (str, os.PathLike, Image.Image, Page)):
            images = [images]
        arrays = list(self.read(images))
        for a in arrays:
            if isinstance(a, InferError):
                raise a
        return self.embed_arrays(arrays)

    def read(self, images: Iterable) -> Iterator:
        """Each path or PIL image as the array the model takes (or the ``InferError`` it raised), in
        order, read on ``read_threads`` threads a few batches ahead."""
        return read_ahead(images, self.model.load, self.read_threads, 2 * self.batch_size)

    def embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Embeddings (N, D) of images already read (``read``, ``OnnxModel.load``), in batches."""
        if not arrays:
            return np.zeros((0, self.model.embed_dim), np.float32)
        out = [self.model(np.stack(arrays[i : i + self.batch_size])) for i in range(0, len(arrays), self.batch_size)]
        return np.concatenate(out)

    # ---- register

    @property
    def labels(self) -> list[str]:
        return sorted(set(self._labels[i] for i in self._owner))

    @property
    def num_examples(self) -> int:
        """Registered examples (images and pages) of all types."""
        return len(self._owner)

    def example_counts(self) -> dict[str, int]:
        """Each registered type's number of examples, by label."""
        counts = np.bincount(self._owner, minlength=len(self._labels))
        return {self._labels[i]: int(counts[i]) for i in np.flatnonzero(counts)}

    def examples_of(self, label: str) -> list:
        """The examples of ``label`` that can be shown (paths, pages or pictures), in order."""
        rows = np.flatnonzero(self._owner == self._index.get(label, -1))
        return [self._example_source(k) for k in self._row_key[rows] if self._has_picture(k)]

    def prepare(self) -> None:
        """Build the matching structures now (they are built on first use otherwise): a classifier
        that is then only read (serve.py's register snapshots) is safe to share between threads;
        the policy too (with the register's self-calibration, when it applies)."""
        if len(self._owner):
            self._grouped_bank()
            self.policy()

    def register(self, label: str, image) -> None:
        """Add an example of ``label`` (a path, a ``Page`` or a PIL image) to the in-memory register.
        With the second look on, its keypoints are computed now; a path or page is kept, so they can
        be later too."""
        embedding = self.embed(image)
        key = f"\0{self._registered}"
        self._registered += 1
        # A path is kept (the second look may be turned on later); a PIL image only while it is on.
        reopenable = isinstance(image, (str, os.PathLike, Page))  # a file, or a page of one
        if reopenable or self._second_look is not None:
            self._memory_images[key] = Path(image) if isinstance(image, (str, os.PathLike)) else image
        self._add([label] * len(embedding), embedding, [key])
        if self.palette is not None and not reopenable:
            self._palettes[key] = palette_signature(image)  # a picture that is not kept: its palette now
        if self.header is not None and not reopenable:
            strip = self.model(self.header.strip_array(self.model, image)[None])[0]
            self._headers.setdefault(self.header.strip, {})[key] = strip
        self._warn_look_alikes([label])
        if self._second_look is not None:
            self._describe([key])
            if not reopenable:
                del self._memory_images[key]  # described: the picture itself is not needed again

    def add_embeddings(self, labels: list[str], embeddings: np.ndarray) -> None:
        """Add precomputed unit embeddings (N, D), one label each, to the in-memory register (one
        copy of the bank, however many are added). They have no image: the second look finds no
        geometric evidence for them."""
        self._add(labels, embeddings, [None] * len(labels))

    def _add(self, labels: list[str], embeddings: np.ndarray, keys: list[str | None]) -> None:
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.shape != (len(labels), self.model.embed_dim):
            raise ValueError(f"expected {len(labels)} × {self.model.embed_dim} embeddings, got {embeddings.shape}")
        owners = np.empty(len(labels), np.int64)
        for i, label in enumerate(labels):
            index = self._index.get(label)
            if index is None:
                index = self._index[label] = len(self._labels)
                self._labels.append(label)
            owners[i] = index
        row_keys = np.empty(len(keys), object)
        row_keys[:] = keys
        self._bank = np.concatenate([self._bank, embeddings.astype(self._bank.dtype, copy=False)])
        self._owner = np.concatenate([self._owner, owners])
        self._row_key = np.concatenate([self._row_key, row_keys])
        self._grouped = None
        self._version += 1

    def unregister(self, label: str) -> None:
        if not np.any(self._owner == self._index.get(label, -1)):
            raise KeyError(f"'{label}' is not registered")
        keep = self._owner != self._index[label]
        for key in self._row_key[~keep]:
            if key is not None and key.startswith("\0"):  # an image registered in memory: forget it
                self._memory_images.pop(key, None)
                self._keypoints.pop(key, None)
                self._palettes.pop(key, None)
                for strips in self._headers.values():
                    strips.pop(key, None)
        for key in self._row_key[~keep]:
            self._views.pop(key, None)
        self._bank, self._owner, self._row_key = self._bank[keep], self._owner[keep], self._row_key[keep]
        self._grouped = None
        self._version += 1

    def _load_register(self, folder: Path, use_cache: bool) -> None:
        if not folder.is_dir():
            raise InferError(f"{folder}: register folder not found")
        if (folder / SETTINGS_NAME).is_file():
            try:
                self.settings = load_settings(folder / SETTINGS_NAME)
            except PolicyError as e:
                raise InferError(str(e)) from None
            if self.settings.calibration is not None and self._calibration is None:
                self._table_for(self.settings.calibration, f"{self.settings.path}: calibration")
        cache_path = folder / CACHE_NAME
        cached, cache_meta = self._read_cache(cache_path) if use_cache else ({}, {})
        keypoint_settings = cache_meta.get("keypoints")
        header_strip = cache_meta.get("header_strip")  # the strip share the cached headers were made at
        records: list[dict] = []  # one per usable file, in scan order
        embeddings: list[np.ndarray | None] = []  # None: still to compute
        todo: list[tuple[int, Path | Page]] = []  # (record index, file or page) of the None entries
        keypoints: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # cached ones of unchanged files
        headers: dict[str, np.ndarray] = {}  # cached header strip embeddings of unchanged files
        # cached self-calibration views of unchanged files, if drawn for the checks as they are now
        views_fit = cache_meta.get("views") == self._views_meta((self.palette, self.header))
        views: dict[str, tuple[np.ndarray, ViewFeatures]] = {}
        for label, path in scan_register(folder, self.warn):
            file_rel = path.relative_to(folder).as_posix()
            try:
                size, mtime = _file_key(path)
                # Same size and mtime: trust the cache; otherwise the content hash decides.
                first = cached.get(file_rel) or cached.get(f"{file_rel}#page=1")
                unchanged = first is not None and (first["size"], first["mtime_ns"]) == (size, mtime)
                digest = first["sha256"] if unchanged else _sha256(path)
                # A PDF or multi-frame TIFF: each page an example of the label (or the first only).
                items = input_pages(path, first_only=self.register_pages == "first")
            except OSError as e:
                self.warn(f"{path}: skipped ({e.strerror or e})")
                continue
            except InferError as e:
                self.warn(f"{e}; skipped from the register")
                continue
            for item in items:
                rel = file_rel if isinstance(item, Path) else f"{file_rel}#page={item.number}"
                hit = cached.get(rel)
                if hit is not None and hit["sha256"] == digest:
                    embeddings.append(hit["embedding"])
                    if hit["keypoints"] is not None:
                        keypoints[rel] = hit["keypoints"]
                    if hit["header"] is not None:
                        headers[rel] = hit["header"]
                    if views_fit and hit["view"] is not None and hit["label"] == label:  # a view is drawn per label
                        views[rel] = hit["view"]
                else:
                    todo.append((len(records), item))
                    embeddings.append(None)
                records.append({"path": rel, "label": label, "size": size, "mtime_ns": mtime, "sha256": digest})
        pending: list[np.ndarray] = []  # preprocessed images of the None entries, in order
        unreadable: set[int] = set()
        for (index, _), array in zip(todo, self.read(path for _, path in todo), strict=True):
            if isinstance(array, InferError):
                self.warn(f"{array}; skipped from the register")
                unreadable.add(index)
            else:
                pending.append(array)
        added = {records[i]["label"] for i, _ in todo if i not in unreadable}  # new or changed examples' types
        if unreadable:
            records = [r for i, r in enumerate(records) if i not in unreadable]
            embeddings = [e for i, e in enumerate(embeddings) if i not in unreadable]
        if not records:
            raise InferError(f"{folder}: register holds no readable images")
        fresh = iter(self.embed_arrays(pending))
        bank = np.stack([next(fresh) if e is None else e for e in embeddings])
        self._add([r["label"] for r in records], bank, [r["path"] for r in records])
        self._cache_path = cache_path if use_cache else None
        files = json.dumps(sorted((r["path"], r["label"], r["sha256"]) for r in records))
        self._folder_digest = (hashlib.sha256(files.encode()).hexdigest(), self._version)
        self._cached_own = cache_meta.get("own")
        if views:
            self._views.update(views)
            self._view_tag = (self.palette, self.header)
        # Cached keypoints count only under the settings they were made with (and the same OpenCV).
        if self._second_look is None or keypoint_settings == self._keypoint_settings:
            self._keypoints.update(keypoints)
            if self._second_look is None:
                self._keypoint_settings = keypoint_settings  # kept as they were for the next cache
        described = self._describe_missing() if self._second_look is not None else False
        if header_strip is not None:
            self._headers.setdefault(float(header_strip), {}).update(headers)
        # The header check's side of the register, as the second look's: each file's strip now, once.
        stripped = self._strip_missing() if self.header is not None else False
        stray = sorted(set(self.settings.types or {}) - set(self._labels))
        if stray:
            self.warn(f"{self.settings.path}: types.{stray[0]}: no such type in the register ({len(stray)} such)")
        if pending:  # examples added or changed since the cache: check them against the register
            self._warn_look_alikes(added)
        stale = [{k: v for k, v in r.items() if k not in RECORD_ARRAYS} for r in cached.values()]
        changed = pending or sorted(records, key=lambda r: r["path"]) != sorted(stale, key=lambda r: r["path"])
        if use_cache and (changed or described or stripped):
            self._write_cache(records, bank)

    def _read_cache(self, path: Path, quiet: bool = False) -> tuple[dict[str, dict], dict]:
        """The cached files (path → record with its embedding, and its keypoints, header strip
        embedding and self-calibration view (embedding, ``ViewFeatures``) or None) and the cache's
        metadata (``keypoints``: the settings the keypoints were made with; ``header_strip``: the
        strip share of the headers; ``views``: what the views were drawn under)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("model") != self.model.fingerprint or meta.get("decode_gap") != DECODE_GAP:
                    return {}, {}  # another model, or images decoded another way
                bank = z["embeddings"]
                files = meta["files"]
                keypoints: list = [None] * len(files)
                if "keypoint_counts" in z.files:
                    counts, xy, descriptors = z["keypoint_counts"], z["keypoint_xy"], z["keypoint_descriptors"]
                    ends = np.cumsum(np.maximum(counts, 0))
                    if len(counts) != len(files) or not len(xy) == len(descriptors) == (ends[-1] if len(ends) else 0):
                        raise ValueError("keypoint arrays disagree")
                    for i, (count, end) in enumerate(zip(counts.tolist(), ends.tolist(), strict=True)):
                        if count >= 0:
                            keypoints[i] = (xy[end - count : end], descriptors[end - count : end])
                headers: list = [None] * len(files)
                if "header_rows" in z.files:
                    rows, strips = z["header_rows"], z["header_embeddings"]
                    if len(rows) != len(files) or strips.shape != (int((rows >= 0).sum()), bank.shape[1]):
                        raise ValueError("header arrays disagree")
                    for i, row in enumerate(rows.tolist()):
                        if row >= 0:
                            headers[i] = strips[row]
                views: list = [None] * len(files)
                if "view_rows" in z.files:  # the self-calibration's views (own_scores), under meta["views"]
                    rows, embedded = z["view_rows"], z["view_embeddings"]
                    n = int((rows >= 0).sum())
                    strips = z["view_headers"] if "view_headers" in z.files else None
                    colours = z["view_palettes"] if "view_palettes" in z.files else None
                    if (
                        len(rows) != len(files)
                        or embedded.shape != (n, bank.shape[1])
                        or (strips is not None and strips.shape != (n, bank.shape[1]))
                        or (colours is not None and len(colours) != n)
                    ):
                        raise ValueError("view arrays disagree")
                    for i, row in enumerate(rows.tolist()):
                        if row >= 0:
                            features = ViewFeatures(
                                None if strips is None else strips[row], None if colours is None else colours[row]
                            )
                            views[i] = (embedded[row], features)
            records = {
                r["path"]: {
                    **r,
                    "embedding": bank[i],
                    "keypoints": keypoints[i],
                    "header": headers[i],
                    "view": views[i],
                }
                for i, r in enumerate(files)
            }
            return records, meta
        except FileNotFoundError:
            return {}, {}
        except Exception as e:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            if not quiet:
                self.warn(f"{path}: unreadable cache ({type(e).__name__}); rebuilding it")
            return {}, {}

    def _write_cache(self, records: list[dict] | None = None, bank: np.ndarray | None = None) -> None:
        """The register folder's files (``records``, ``bank``: as just loaded; None: as the cache file
        holds them, when keypoints were computed later) with the keypoints and header strips known of
        them."""
        path = self._cache_path
        if path is None:
            return
        if records is None:  # not kept in memory (a large register's records and bank would double)
            cached, _ = self._read_cache(path, quiet=True)
            if not cached:
                return
            records = [{k: v for k, v in r.items() if k not in RECORD_ARRAYS} for r in cached.values()]
            bank = np.stack([r["embedding"] for r in cached.values()])
        meta = {"model": self.model.fingerprint, "decode_gap": DECODE_GAP, "files": records}
        if self._cached_own is not None:
            meta["own"] = self._cached_own  # the self-calibration's scores, under what they depend on
        arrays = {"embeddings": bank}
        known = [self._keypoints.get(r["path"]) for r in records]
        if any(k is not None for k in known):
            meta["keypoints"] = self._keypoint_settings
            arrays["keypoint_counts"] = np.array([-1 if k is None else len(k[0]) for k in known], np.int64)
            arrays["keypoint_xy"] = np.concatenate([np.zeros((0, 2), np.float32)] + [k[0] for k in known if k])
            arrays["keypoint_descriptors"] = np.concatenate([np.zeros((0, 32), np.uint8)] + [k[1] for k in known if k])
        # The header strips of one strip share: the check's own, or (the check off) those found
        # in the cache, kept as they were.
        strip = self.header.strip if self.header is not None else next(iter(self._headers), None)
        strips = self._headers.get(strip, {}) if strip is not None else {}
        found = [strips.get(r["path"]) for r in records]
        if any(h is not None for h in found):
            meta["header_strip"] = strip
            arrays["header_rows"] = kept_rows(found)
            arrays["header_embeddings"] = np.stack([h for h in found if h is not None]).astype(bank.dtype)
        # The self-calibration's views, under the checks they were read for (own_scores): a
        # rebuilt classifier (serve.py's, on each change of the folder) draws only new files' views.
        views = [self._views.get(r["path"]) for r in records]
        if any(v is not None for v in views):
            seen = [v for v in views if v is not None]
            meta["views"] = self._views_meta()
            arrays["view_rows"] = kept_rows(views)
            arrays["view_embeddings"] = np.stack([e for e, _ in seen]).astype(np.float32)
            if all(f.header is not None for _, f in seen):
                arrays["view_headers"] = np.stack([f.header for _, f in seen]).astype(np.float32)
            if all(f.palette is not None for _, f in seen):
                arrays["view_palettes"] = np.stack([f.palette for _, f in seen]).astype(np.float32)
        try:
            # readable as any file the user writes, so others sharing the register (or a Docker
            # image's users) can use it too
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
        except OSError as e:
            self.warn(f"{path}: cannot write the register cache ({e.strerror or e}); continuing without it")

    # ---- the second look

    @property
    def second_look(self) -> SecondLook | None:
        """The second look's settings, None when it is off. Set it to True (the defaults), a
        ``SecondLook`` or False/None; turning it on computes the register's missing keypoints (kept
        in the register cache) and needs OpenCV."""
        return self._second_look

    @second_look.setter
    def second_look(self, value: bool | SecondLook | None) -> None:
        settings = SecondLook() if value is True else (value or None)
        if settings is not None and not isinstance(settings, SecondLook):
            raise TypeError(f"second_look: True, False, None or a SecondLook, not {value!r}")
        if settings is not None:
            tool = Keypoints(settings)  # a one-line InferError without OpenCV
            keypoint_settings = {**settings.keypoint_settings(), "opencv": tool.version}
            if keypoint_settings != self._keypoint_settings:
                self._keypoints.clear()  # made another way: describe again
                self._keypoint_settings = keypoint_settings
            self._keypoint_tool = tool
        self._second_look = settings
        if settings is not None and self._describe_missing():
            self._write_cache()

    def _has_picture(self, key: str | None) -> bool:
        """Whether a bank row's key names an image that can be read again: a register file, or an
        image registered in memory that is still kept (not precomputed embeddings)."""
        return key is not None and (not key.startswith("\0") or key in self._memory_images)

    def _example_source(self, key: str):
        """What a bank row's key names: an image registered in memory (path, page or picture), a
        register file, or a page of one (``"form.pdf#page=2"``)."""
        if key.startswith("\0"):
            return self._memory_images[key]
        file, index = page_key(key)
        return self.register_dir / key if index is None else Page(self.register_dir / file, index)

    def best_example(self, embedding: np.ndarray, label: str):
        """The example of ``label`` nearest to ``embedding`` (a path, ``Page`` or PIL image), or None
        when it has none to show (precomputed embeddings, a picture no longer kept)."""
        rows = np.flatnonzero(self._owner == self._index.get(label, -1))
        if not len(rows):
            return None
        cos = self._cosines(np.asarray(embedding, np.float32)[None], self._bank[rows])[0]
        key = self._row_key[rows[int(np.argmax(cos))]]
        return self._example_source(key) if self._has_picture(key) else None

    def _describe_missing(self) -> bool:
        """Keypoints of every registered image that has none yet; True when a file of the register
        folder was among them."""
        keys = [k for k in dict.fromkeys(self._row_key.tolist()) if self._has_picture(k) and k not in self._keypoints]
        self._describe(keys)
        return any(not k.startswith("\0") for k in keys)

    def _describe(self, keys: list[str]) -> None:
        """Keypoints of these images, read on ``read_threads`` threads (OpenCV releases the GIL)."""
        tool = self._keypoint_tool

        source = self._example_source
        for key, result in zip(
            keys, read_ahead(keys, lambda k: tool.describe(source(k)), self.read_threads, 64), strict=True
        ):
            if isinstance(result, InferError):
                self.warn(f"{result}; the second look has no keypoints for it")
                result = (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
            self._keypoints[key] = result

    def _look_again(self, image, indices: np.ndarray, top: list[tuple[str, float]]) -> tuple[list, dict]:
        """The second look at one query (a path or PIL image) whose best types are ``top`` (type
        indices ``indices`` of the grouped bank): the re-ranked list and what was found."""
        t0 = time.perf_counter()
        look, tool = self._second_look, self._keypoint_tool
        if len(top) < 2 or not look.triggers(top[0][1], top[1][1]):
            return top, {"ran": False, "gap": top[0][1] - top[1][1] if len(top) > 1 else None}
        gap = top[0][1] - top[1][1]
        try:
            query = tool.describe(image)
        except InferError as e:
            return top, {"ran": False, "gap": gap, "error": str(e)}
        order, bounds = self._rows
        candidates = []
        for rank, ((label, score), j) in enumerate(zip(top[: look.k], indices, strict=False)):
            examples = [self._keypoints.get(k) for k in self._row_key[order[bounds[j] : bounds[j + 1]]] if k]
            examples = [e for e in examples if e is not None]
            matches, inliers = max((tool.agreement(query, e) for e in examples), key=lambda a: a[1], default=(0, 0))
            candidates.append(
                {
                    "label": label,
                    "embedding_rank": rank + 1,
                    "embedding_score": score,
                    "examples": len(examples),
                    "matches": matches,
                    "inliers": inliers,
                }
            )
        best = max(c["inliers"] for c in candidates)
        for c in candidates:
            c["evidence"] = look.evidence(c["inliers"], best)
            c["score"] = look.combine(c["embedding_score"], c["evidence"])
        candidates.sort(key=lambda c: -c["score"])  # stable: ties keep the embedding's order
        reranked = sorted([(c["label"], c["score"]) for c in candidates] + top[look.k :], key=lambda t: -t[1])
        found = {"ran": True, "gap": gap, "query_keypoints": len(query[0]), "candidates": candidates}
        return reranked, {**found, "ms": 1000 * (time.perf_counter() - t0)}

    # ---- matching

    def type_scores(self, embeddings: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """(Q, L) scores (cos + 1) / 2 of each embedding against each type's best example, and the L
        type names: one matrix product over the whole bank."""
        if len(self._owner) == 0:
            raise InferError("the register is empty")
        bank, starts, names = self._grouped_bank()
        cos = self._cosines(np.asarray(embeddings, np.float32), bank)  # (Q, M)
        if starts is not None:  # some type has several examples: its best one counts
            cos = np.maximum.reduceat(cos, starts, axis=1)  # (Q, L)
        return (cos + 1.0) / 2.0, names

    def match(self, embeddings: np.ndarray, k: int = 1, images=None) -> list[Match]:
        """Best registered types for each embedding: one matrix product over the whole bank, then
        the best example of each type, then the top k types (ties go to the type added first). With
        the second look on and ``images`` given (the path or PIL image of each embedding), close
        calls are re-ranked and each match says what the second look found."""
        if images is not None and len(images) != len(embeddings):
            raise ValueError(f"{len(embeddings)} embeddings but {len(images)} images")
        ranked = self._ranked(embeddings, k, images, self._second_look if images is not None else None)
        policy = self.policy()
        k = max(1, min(k, len(self._grouped_bank()[2])))
        results = []
        for top, found, colours, headers in ranked:
            decision = decide(top, policy.threshold, policy.margin, policy.per_type)
            results.append(
                Match(
                    decision.label,
                    top[0][1],
                    top[:k],
                    second_look=found,
                    palette=colours,
                    header=headers,
                    ambiguous=decision.ambiguous,
                    runner_up=decision.runner_up,
                )
            )
        return results

    def _ranked(self, embeddings: np.ndarray, k: int, images, look: SecondLook | None) -> list[tuple]:
        """Each embedding's best types after the checks on close calls (with ``images``): (top,
        what the second look found, what the palette check found, what the header check found)."""
        scores, names = self.type_scores(embeddings)
        palette = self.palette if images is not None else None
        header = self.header if images is not None else None
        # The runner-up decides close calls. Each check re-scores its best c.k and may push all but
        # one of them below types further down, so the list holds enough types for the next check
        # to re-score the best c.k as they score after the one before (as eval.py's matrix does).
        width = max(k, 2, sum(c.k for c in (look, palette, header) if c is not None))
        width = min(width, len(names))
        ranked = []
        for q, row in enumerate(scores):
            indices = top_indices(row, width)
            top = [(names[i], float(row[i])) for i in indices]
            found = colours = headers = None
            if header is not None:
                top, indices, headers = self._header_check(images[q], indices, top)
            if palette is not None:
                top, indices, colours = self._palette_check(images[q], indices, top)
            if look is not None:
                top, found = self._look_again(images[q], indices, top)
            ranked.append((top, found, colours, headers))
        return ranked

    def own_scores(self) -> np.ndarray:
        """Self-calibration's evidence (``policy.own_threshold``): for each registered type, in the
        order of ``type_scores``' columns, the best score of its first example seen as a photo
        (``register_view``) against the *other* types, after the header and palette checks as a
        query gets them (never the second look); -inf for a type with no picture to view
        (``add_embeddings``). Worked out once per state of the register; each example's view is
        drawn once (a register that grows draws only the new ones)."""
        memo_key = (self._version, self.palette, self.header)
        if self._own is not None and self._own[0] == memo_key:
            return self._own[1]
        _, _, names = self._grouped_bank()
        digest = None  # what the scores depend on, when the register is its folder's files as loaded
        if self._folder_digest is not None and self._folder_digest[1] == self._version:
            what = [self._folder_digest[0], self.model.fingerprint, repr(self.palette), repr(self.header), VIEW_VERSION]
            digest = hashlib.sha256(json.dumps(what).encode()).hexdigest()
            cached = self._cached_own
            if cached and cached.get("key") == digest and cached.get("types") == names:
                own = np.array(cached["scores"], np.float64)
                self._own = (memo_key, own)
                return own
        order, bounds = self._rows
        items = []  # (type index, the row key of its first example with a picture)
        for j in range(len(names)):
            for row in order[bounds[j] : bounds[j + 1]]:
                if self._has_picture(key := self._row_key[row]):
                    items.append((j, key))
                    break
        if self._view_tag != (self.palette, self.header):  # the checks read views another way now
            self._views.clear()
            self._view_tag = (self.palette, self.header)
        todo = [(j, key) for j, key in items if key not in self._views]

        def view(item):
            j, key = item
            picture = register_view(open_image(self._example_source(key), self.model.decode_size), names[j])
            strip = self.header.strip_array(self.model, picture) if self.header is not None else None
            colours = palette_signature(picture) if self.palette is not None else None
            return self.model.preprocess(picture), strip, colours

        done = read_ahead(todo, view, self.read_threads, 2 * self.batch_size)
        for start in range(0, len(todo), self.batch_size):  # each new example's view drawn and read once
            chunk, arrays, strips, colours = [], [], [], []
            for item, outcome in zip(todo[start : start + self.batch_size], done, strict=False):  # done: all chunks
                if isinstance(outcome, InferError):
                    self.warn(f"{outcome}; the register's self-calibration goes without it")
                    continue
                chunk.append(item[1])
                arrays.append(outcome[0])
                strips.append(outcome[1])
                colours.append(outcome[2])
            if not chunk:
                continue
            embedded = self.embed_arrays(arrays)
            headers = self.embed_arrays(strips) if self.header is not None else [None] * len(chunk)
            for key, e, h, c in zip(chunk, embedded, headers, colours, strict=True):
                self._views[key] = (e, ViewFeatures(h, c))
        own = np.full(len(names), -np.inf)
        seen = [(j, self._views[key]) for j, key in items if key in self._views]
        for start in range(0, len(seen), self.batch_size):
            part = seen[start : start + self.batch_size]
            # the list comes in score order after the checks: the best other type is its first
            # entry that is not the view's own
            ranked = self._ranked(np.stack([e for _, (e, _) in part]), 2, [f for _, (_, f) in part], None)
            for (j, _), (top, *_) in zip(part, ranked, strict=True):
                own[j] = next((score for label, score in top if label != names[j]), -np.inf)
        self._own = (memo_key, own)
        if self._cache_path is not None:  # kept for the next run on this register
            if digest is not None:
                self._cached_own = {"key": digest, "types": names, "scores": own.tolist()}
            if digest is not None or any(not key.startswith("\0") for _, key in todo):
                self._write_cache()
        return own

    def _views_meta(self, tag: tuple | None = None) -> dict:
        """What the kept views (``own_scores``) were drawn under, as the register cache records it:
        the view recipe and the checks (``tag``; default: the ones they were read for)."""
        palette, header = self._view_tag if tag is None else tag
        return {"version": VIEW_VERSION, "palette": repr(palette), "header": repr(header)}

    def _palette_of(self, key: str | None) -> np.ndarray | None:
        """The palette of a bank row's example, computed on first need (None: no picture to read)."""
        if key is None:
            return None
        if key not in self._palettes:
            try:
                found = palette_signature(self._example_source(key))
            except (InferError, KeyError):
                found = None
            with self._palette_lock:
                self._palettes[key] = found
        return self._palettes[key]

    def _palette_check(self, image, indices: np.ndarray, top: list[tuple[str, float]]):
        """The palette check at one query (``PaletteCheck``): the re-ranked list, the type indices in
        that order, and what it found (None when the call was not close)."""
        check = self.palette
        if not check.triggers(top):
            return top, indices, None
        try:
            query = image.palette if isinstance(image, ViewFeatures) else palette_signature(image)
        except InferError as e:
            return top, indices, {"ran": False, "error": str(e)}
        if query[-1] < check.min_colour:
            return top, indices, {"ran": False, "colour": float(query[-1])}  # a grey query: no evidence
        order, bounds = self._rows
        examples = [
            [pal for pal in map(self._palette_of, self._row_key[order[bounds[j] : bounds[j + 1]]]) if pal is not None]
            for j in indices[: check.k]
        ]
        reranked, order_out, candidates = reordered(top, indices, check.rescore(top, query, examples))
        return reranked, order_out, {"ran": True, "colour": float(query[-1]), "candidates": candidates}

    def _headers_of(self, keys: Sequence[str | None], threads: int = 1) -> list[np.ndarray | None]:
        """The header embeddings of bank rows' examples at the check's strip, those not yet known
        computed now (read on ``threads`` threads, embedded in batches; None: no picture to read)."""
        check = self.header
        with self._header_lock:
            known = self._headers.setdefault(check.strip, {})
        todo = [k for k in dict.fromkeys(keys) if k is not None and k not in known]

        def strip(key: str) -> np.ndarray:
            try:
                return check.strip_array(self.model, self._example_source(key))
            except KeyError:  # an image registered in memory and no longer kept
                raise InferError(f"{key!r}: no picture kept") from None

        arrays, ready = [], []
        for key, result in zip(todo, read_ahead(todo, strip, threads, 2 * self.batch_size), strict=True):
            if isinstance(result, InferError):
                with self._header_lock:
                    known[key] = None
            else:
                arrays.append(result)
                ready.append(key)
        if arrays:
            found = self.embed_arrays(arrays)
            with self._header_lock:
                known.update(zip(ready, found, strict=True))
        return [None if k is None else known[k] for k in keys]

    def _strip_missing(self) -> bool:
        """Header strip embeddings of the register folder's files that have none yet; True when
        there were any (the register cache keeps them)."""
        strips = self._headers.get(self.header.strip, {})
        keys = [k for k in dict.fromkeys(self._row_key.tolist()) if k is not None and not k.startswith("\0")]
        keys = [k for k in keys if k not in strips]
        self._headers_of(keys, self.read_threads)
        return bool(keys)

    def _header_check(self, image, indices: np.ndarray, top: list[tuple[str, float]]):
        """The header check at one query (``HeaderCheck``): the re-ranked list, the type indices in
        that order, and what it found (None when the call was not close)."""
        check = self.header
        if not check.triggers(top):
            return top, indices, None
        try:
            if isinstance(image, ViewFeatures):
                query = image.header
            else:
                query = self.model(check.strip_array(self.model, image)[None])[0]
        except InferError as e:
            return top, indices, {"ran": False, "error": str(e)}
        order, bounds = self._rows
        rows = [self._row_key[order[bounds[j] : bounds[j + 1]]] for j in indices[: check.k]]
        found = self._headers_of([key for keys in rows for key in keys])
        sims, at = [], 0
        for keys in rows:
            mine = [e for e in found[at : at + len(keys)] if e is not None]
            at += len(keys)
            sims.append(max(((float(query @ e) + 1.0) / 2.0 for e in mine), default=None))
        reranked, order_out, candidates = reordered(top, indices, rerank_by(top[: check.k], sims, check.weight))
        return reranked, order_out, {"ran": True, "candidates": candidates}

    def _grouped_bank(self) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
        """The bank with each type's examples side by side (the bank itself when they already are),
        where each type starts (None: one example each) and the types in that order."""
        if self._grouped is None:
            order = np.argsort(self._owner, kind="stable")
            owners = self._owner[order]
            starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
            in_order = bool(np.all(order == np.arange(len(order))))
            bank = self._bank if in_order else np.ascontiguousarray(self._bank[order])
            names = [self._labels[i] for i in owners[starts]]
            self._grouped = (bank, None if len(starts) == len(owners) else starts, names)
            self._rows = (order, np.r_[starts, len(owners)])  # type j's bank rows: order[b[j]:b[j+1]]
        return self._grouped

    @staticmethod
    def _cosines(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
        if bank.dtype == np.float32:
            return queries @ bank.T
        # float16: numpy has no half-precision BLAS, so widen a cache-sized block at a time and
        # multiply that: memory traffic is the 2-byte bank, the arithmetic stays float32 BLAS.
        out = np.empty((len(queries), len(bank)), np.float32)
        block = np.empty((min(FP16_BLOCK_ROWS, len(bank)), bank.shape[1]), np.float32)
        for i in range(0, len(bank), FP16_BLOCK_ROWS):
            rows = bank[i : i + FP16_BLOCK_ROWS]
            wide = block[: len(rows)]
            wide[...] = rows
            np.matmul(queries, wide.T, out=out[:, i : i + len(rows)])
        return out

    def classify(self, image) -> tuple[str | None, float]:
        m = self.match_images([image])[0]
        return m.label, m.score

    def classify_batch(self, images) -> list[tuple[str | None, float]]:
        return [(m.label, m.score) for m in self.match_images(list(images))]

    def top_k(self, image, k: int = 5) -> list[tuple[str, float]]:
        return self.match_images([image], k)[0].top

    def match_images(self, images: Sequence, k: int = 1) -> list[Match]:
        """``match`` for images (paths, pages or PIL images; the first unreadable one raises its
        ``InferError``), each decoded once: the checks on close calls read the picture decoded for
        the model (the header and palette checks lose nothing by it: EXPERIMENTS.md), or, while the
        second look is on, the image as given (its keypoints are read at 512 px)."""
        if self._second_look is not None:
            return self.match(self.embed(list(images)), k, images=list(images))
        pictures, arrays = [], []
        for outcome in read_ahead(images, self.model.decode, self.read_threads, 2 * self.batch_size):
            if isinstance(outcome, InferError):
                raise outcome
            pictures.append(outcome[0])
            arrays.append(outcome[1])
        return self.match(self.embed_arrays(arrays), k, images=pictures)


def top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, largest first, ties to the lower index: what a stable
    argsort of −row gives, without sorting the whole row (a register may hold a million types)."""
    if k == 1:
        return np.array([int(np.argmax(row))])  # first occurrence of the maximum
    if k >= len(row):
        return np.argsort(-row, kind="stable")
    kth = np.partition(row, len(row) - k)[len(row) - k]  # the k-th largest value
    candidates = np.flatnonzero(row >= kth)  # every tie of it included, in index order
    return candidates[np.argsort(-row[candidates], kind="stable")[:k]]


# --------------------------------------------------------------------------------------------
# Command line


def collect_inputs(paths: list[str]) -> list[Path]:
    """Files as given; folders searched recursively for images and PDFs (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out.extend(Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in INPUT_EXTENSIONS)
        else:
            out.append(p)
    return out


class Progress:
    """A one-line progress bar on stderr for long batches (tqdm-like, standard library only)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled, self.start = total, 0, enabled, time.perf_counter()

    def update(self, n: int) -> None:
        self.done += n
        if self.enabled:
            rate = self.done / max(time.perf_counter() - self.start, 1e-9)
            filled = int(30 * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (30 - filled)
            print(f"\r[{bar}] {self.done}/{self.total} images, {rate:.0f} img/s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run_cli(args: argparse.Namespace) -> int:
    look = None
    if args.second_look:
        given = {"margin": args.second_look_margin, "k": args.second_look_k, "weight": args.second_look_weight}
        look = SecondLook(**{name: value for name, value in given.items() if value is not None})
    clf = DocClassifier(
        args.model,
        args.register,
        threshold=args.threshold,
        batch_size=args.batch_size,
        second_look=look,
        palette=args.palette,
        header=args.header_check,
        fpr=args.fpr,
        margin=args.margin,
        register_pages=args.register_pages,
        calibration=args.calibration,
        self_calibration=args.self_calibration,
    )
    policy = clf.policy()
    files = collect_inputs(args.inputs)
    if not files:
        raise InferError(f"no images found in {', '.join(args.inputs)}")
    # Each input: an image file, a page of a PDF or TIFF, or the error that kept a file from opening.
    paths: list[Path | Page | InferError] = []
    for file in files:
        try:
            paths.extend(input_pages(file, args.pages))
        except InferError as e:
            paths.append(e)
    results: list[dict] = [{} for _ in paths]  # by input position (a path may repeat)
    pictures: dict[int, tuple[str | None, str | None]] = {}  # --report: (input, register example) thumbnails
    progress = Progress(len(paths), enabled=len(paths) >= 50 and sys.stderr.isatty())

    def where(item: Path | Page) -> dict:
        return {"path": str(item.path), "page": item.number} if isinstance(item, Page) else {"path": str(item)}

    def timed_load(item: Path | Page | InferError) -> tuple[np.ndarray, float, str | None, Image.Image]:
        if isinstance(item, InferError):  # (on a reading thread)
            raise item
        t0 = time.perf_counter()
        image, array = clf.model.decode(item)
        seconds = time.perf_counter() - t0
        thumb = thumbnail(image) if args.report else None  # the report's picture: no second decode
        return array, seconds, thumb, image  # the picture too: the checks on close calls read it

    example_thumbs: dict[int, str | None] = {}  # the report's register pictures, by example

    def example_thumb(embedding: np.ndarray, label: str) -> str | None:
        source = clf.best_example(embedding, label)
        if source is None:
            return None
        key = id(source) if isinstance(source, Image.Image) else hash(str(source))
        if key not in example_thumbs:
            try:
                example_thumbs[key] = thumbnail(open_image(source, 2 * THUMB_SIDE))
            except InferError:
                example_thumbs[key] = None
        return example_thumbs[key]

    loaded = read_ahead(paths, timed_load, clf.read_threads, 2 * args.batch_size)
    for start in range(0, len(paths), args.batch_size):
        arrays, positions, times, thumbs, pictures_read = [], [], [], [], []
        for i in range(start, min(start + args.batch_size, len(paths))):
            outcome = next(loaded)
            if isinstance(outcome, InferError):
                failed = paths[i]
                results[i] = {**({} if isinstance(failed, InferError) else where(failed)), "error": str(outcome)}
            else:
                arrays.append(outcome[0])
                positions.append(i)
                times.append(outcome[1])
                thumbs.append(outcome[2])
                pictures_read.append(outcome[3])
        if arrays:
            t0 = time.perf_counter()
            # What the checks on close calls read: the pictures decoded for the model (decoded once),
            # or the files while the second look is on (it reads them at 512 px).
            if look is not None:
                images = [paths[i] for i in positions]
            else:
                images = pictures_read if clf.palette is not None or clf.header is not None else None
            embeddings = clf.embed_arrays(arrays)
            matches = clf.match(embeddings, args.top_k, images=images)
            looks = [m.second_look or {} for m in matches]
            own = [found.get("ms", 0.0) / 1000 for found in looks]  # each query's second look
            shared = (time.perf_counter() - t0 - sum(own)) / len(arrays)  # the batch's embed + match, per image
            for i, m, t, t_own in zip(positions, matches, times, own, strict=True):
                results[i] = {
                    **where(paths[i]),
                    "label": m.label,
                    "score": round(m.score, 6),
                    "ambiguous": m.ambiguous,
                    "top_k": [{"label": lb, "score": round(s, 6)} for lb, s in m.top],
                    "ms": round(1000 * (t + shared + t_own), 3),
                }
                if m.ambiguous:
                    results[i]["candidates"] = [
                        {"label": lb, "score": round(sc, 6)} for lb, sc in (m.top[0], m.runner_up)
                    ]
                if m.header is not None:
                    results[i]["header"] = rounded(m.header)
                if m.palette is not None:
                    results[i]["palette"] = rounded(m.palette)
                if look is not None:
                    results[i]["second_look"] = rounded(m.second_look)
            if args.report:
                for j, (i, m) in enumerate(zip(positions, matches, strict=True)):
                    pictures[i] = (thumbs[j], example_thumb(embeddings[j], m.top[0][0]))
        progress.update(min(args.batch_size, len(paths) - start))
    progress.close()
    documents = group_documents(results)  # the pages of PDFs and TIFFs, split where the type changes
    if args.report:
        shown = [
            {**r, **dict(zip(("thumb", "example_thumb"), pictures.get(i, (None, None)), strict=True))}
            for i, r in enumerate(results)
        ]
        meta = {"model": str(clf.model.path), "register": str(clf.register_dir), "policy": policy.to_dict()}
        try:
            print(f"report: {write_report(args.report, shown, meta, max(args.top_k, 3))}", file=sys.stderr)
        except OSError as e:
            raise InferError(f"{args.report}: cannot write the report ({e.strerror or e})") from None
    if args.json:
        doc = {
            "model": str(clf.model.path),
            "register": str(clf.register_dir),
            "threshold": round(policy.threshold, 6),
            "policy": policy.to_dict(),
            "score": "(cos+1)/2",
            "look_alikes": [{"types": [a, b], "score": round(sc, 6)} for a, b, sc in clf.look_alikes()[:100]]
            if clf.num_examples <= LOOK_ALIKE_JSON_MAX
            else None,  # a register too large to compare all pairs on every call
        }
        if clf.header is not None:
            doc["score"] += "; on a close call, minus weight*(best header score of the k - its own) (header)"
            doc["header"] = dataclasses.asdict(clf.header)
        if clf.palette is not None:
            doc["score"] += (
                "; on a close call with colour, minus weight*(best palette similarity of the k - its own) (palette)"
            )
            doc["palette"] = dataclasses.asdict(clf.palette)
        if look is not None:
            doc["score"] += "; on a close call 1-(1-s)*(1-weight*g), s the embedding's score (second_look)"
            doc["second_look"] = {
                **dataclasses.asdict(look),
                "evidence": "g = clip((inliers - min_inliers) / (max(full_inliers, most inliers of the k) - min_inliers), 0, 1)",
            }
        doc["results"] = results
        doc["documents"] = documents
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(format_result(r, args.top_k), file=sys.stderr if "error" in r else sys.stdout)
        for d in documents:
            print(format_document(d))
    return 1 if any("error" in r for r in results) else 0


def rounded(value):
    """A JSON-ready copy with floats to 6 places."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {key: rounded(v) for key, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def format_document(d: dict) -> str:
    first, last = d["pages"]
    pages = f"page {first}" if first == last else f"pages {first}-{last}"
    return f"{d['path']} {pages}: {d['label'] or 'unknown'}"


def format_result(r: dict, k: int) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    best = r["top_k"][0]
    name = f"{r['path']}#page={r['page']}" if "page" in r else r["path"]
    head = (
        f"{name}: {r['label']}  {r['score']:.3f}"
        if r["label"]
        else (f"{name}: unknown  (closest: {best['label']} {best['score']:.3f})")
    )
    if r.get("ambiguous"):
        other = r["candidates"][1]
        head += f"  (or: {other['label']} {other['score']:.3f})"
    if k > 1:
        head += "   [" + ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"]) + "]"
    if r.get("second_look", {}).get("ran"):
        head += "   (second look)"
    return head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Classify document images against a register of example images.",
        epilog="Scores are (cos+1)/2 in [0, 1]; below the threshold the answer is 'unknown'. "
        "Exit status: 0 all classified, 1 some inputs could not be read, 2 nothing could run.",
    )
    parser.add_argument("inputs", nargs="+", help="image or PDF files, or folders (searched recursively)")
    parser.add_argument("--register", default=str(DEFAULT_REGISTER), help="register folder (default: %(default)s)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="ONNX model (default: %(default)s)")
    parser.add_argument(
        "--threshold", type=float, default=None, help="minimum score in [0, 1] (default: from --fpr and the register)"
    )
    parser.add_argument(
        "--fpr",
        type=float,
        default=None,
        help=f"share of unknown documents that may pass as some type; the model's table gives the threshold for "
        f"the register's size (default: the register's {SETTINGS_NAME}, else {DEFAULT_FPR})",
    )
    parser.add_argument(
        "--calibration",
        choices=tuple(CALIBRATIONS),
        default=None,
        help="what the register holds, which picks the model's table: "
        + "; ".join(f"{kind}: {what}" for kind, what in CALIBRATIONS.items())
        + f" (default: the register's {SETTINGS_NAME}, else {DEFAULT_CALIBRATION})",
    )
    parser.add_argument(
        "--self-calibration",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="where the model's table sets the threshold, let the register relax it by its own examples seen as "
        f"photos (from 99 types at the default 2 %%; default: on, unless the register's {SETTINGS_NAME} says "
        "self_calibration: false)",
    )
    parser.add_argument(
        "--margin", type=float, default=None, help="best two types closer than this: ambiguous (default: the model's)"
    )
    parser.add_argument("--top-k", type=int, default=1, help="how many candidates to list (default: 1)")
    parser.add_argument(
        "--pages", default=None, help="pages of PDFs and multi-page TIFFs to classify, e.g. 1-3,7 or 2- (default: all)"
    )
    parser.add_argument(
        "--register-pages",
        choices=("all", "first"),
        default="all",
        help="a PDF or TIFF in the register: each page an example of its type, or the first page only (default: all)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument(
        "--report", default=None, help="also write a self-contained HTML page to review the answers (e.g. results.html)"
    )
    look = parser.add_argument_group(
        "second look",
        "On a close call (the best two types within the margin), re-rank the best k by ORB keypoints and a "
        "RANSAC homography against their register examples (needs OpenCV); score 1-(1-s)(1-weight*g) with g "
        "in [0, 1] from the inlier count. Off by default.",
    )
    look.add_argument("--second-look", action=argparse.BooleanOptionalAction, default=False)
    defaults = SecondLook()
    look.add_argument("--second-look-margin", type=float, help=f"trigger margin (default: {defaults.margin})")
    look.add_argument("--second-look-k", type=int, help=f"candidates re-ranked, 2 to 5 (default: {defaults.k})")
    look.add_argument("--second-look-weight", type=float, help=f"weight in [0, 1] (default: {defaults.weight})")
    parser.add_argument(
        "--palette",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="on a close call, compare the best types' colours too (default: on; --no-palette: the embedding alone)",
    )
    parser.add_argument(
        "--header-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="on a close call, compare the tops of the pages too, embedded on their own (default: on)",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    tuned = [args.second_look_margin, args.second_look_k, args.second_look_weight]
    if not args.second_look and any(v is not None for v in tuned):
        parser.error("--second-look-margin, --second-look-k and --second-look-weight need --second-look")
    if args.top_k < 1:
        parser.error(f"--top-k must be 1 or more, got {args.top_k}")
    if args.threshold is not None and args.fpr is not None:
        parser.error("give --threshold or --fpr, not both")
    if args.report is not None and not Path(args.report).resolve().parent.is_dir():
        parser.error(f"--report {args.report}: no such folder {Path(args.report).resolve().parent}")
    if args.pages is not None:
        try:
            args.pages = parse_pages(args.pages)
        except ValueError as e:
            parser.error(str(e))
    try:
        return run_cli(args)
    except InferError as e:
        if args.debug:
            traceback.print_exc()
        print(f"infer.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    Image.MAX_IMAGE_PIXELS = 200_000_000  # still refuse decompression bombs, allow big scans
    sys.exit(main())
