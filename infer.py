"""Which registered document type is this image? ONNX Runtime, NumPy and Pillow only (no torch).

    python infer.py photo.jpg                          # shipped model and sample register
    python infer.py a.jpg b.png scans/ --register my_register/ --top-k 3 --json

Register: one example image per type in a folder, the label taken from the file name
(``register/invoice_acme.png`` → ``invoice_acme``); a sub-folder is one type with several examples
(``register/passport/*.jpg`` → ``passport``, scored by its best example). Embeddings of the register
are cached in the folder (``.docclassifier-cache.npz``) and recomputed only for files, or a model,
that changed.

Score: (cos + 1) / 2 of the two embeddings, in [0, 1] as in the original DocClassifier; a match needs
score ≥ threshold, else the answer is "unknown". The default threshold is the one recorded in the
model's metadata.

Python API::

    from infer import DocClassifier
    clf = DocClassifier("assets/model.onnx", "register")
    label, score = clf.classify("photo.jpg")      # label is None for "unknown"
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

HERE = Path(__file__).resolve().parent
DEFAULT_MODEL = HERE / "assets" / "model.onnx"
DEFAULT_REGISTER = HERE / "register"
FALLBACK_THRESHOLD = 0.85  # only for models whose metadata records no threshold
CACHE_NAME = ".docclassifier-cache.npz"
# A JPEG is decoded at a reduced scale (libjpeg's DCT scaling) while both sides stay at least this
# many times the model's input: a 1200×1600 photo for a 96 px model decodes at 300×400, decoding and
# resizing take a quarter of the time, and the embedding stays within cosine 0.9997 of a full decode's
# (bench/inference.py, BENCHMARKS.md).
DECODE_GAP = 2
FP16_BLOCK_ROWS = 4096  # float16 bank rows widened per block: 4096 × 128 × 4 bytes = 2 MiB
# The same list as data/folder.py (infer.py cannot import the training package: it needs torch).
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class InferError(Exception):
    """A user-facing problem: the message names the file and says what is wrong, in one line."""


@dataclass
class Match:
    label: str | None  # None: nothing reached the threshold ("unknown")
    score: float  # best score, in [0, 1]
    top: list[tuple[str, float]] = field(default_factory=list)  # best labels first


# --------------------------------------------------------------------------------------------
# Images and preprocessing


def decode_size(input_size: int) -> int:
    """The smallest side a file is decoded at for a model that takes ``input_size`` pixels."""
    return DECODE_GAP * input_size


def open_image(image: str | os.PathLike | Image.Image, min_size: int | None = None) -> Image.Image:
    """An RGB PIL image from a path or a PIL image, EXIF orientation applied. With ``min_size``, a
    JPEG file is decoded at 1/2, 1/4 or 1/8 scale when both sides stay ≥ ``min_size`` (other formats
    and PIL images are left as they are)."""
    if isinstance(image, Image.Image):
        return ImageOps.exif_transpose(image).convert("RGB")
    path = Path(image)
    if path.is_dir():
        raise InferError(f"{path}: is a folder, not an image")
    if not path.exists():
        raise InferError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            if min_size:
                im.draft("RGB", (min_size, min_size))  # a no-op for anything but JPEG
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except PermissionError:
        raise InferError(f"{path}: permission denied") from None
    except Image.DecompressionBombError as e:
        raise InferError(f"{path}: image too large ({e})") from None
    except (OSError, ValueError, SyntaxError) as e:  # PIL's "cannot identify", truncated data, bad headers
        reason = "not an image file" if "cannot identify" in str(e) else f"unreadable image ({e})"
        raise InferError(f"{path}: {reason}") from None


@dataclass(frozen=True)
class Preprocess:
    """Exactly what training's evaluation transform does, read from the model's metadata:
    PIL bilinear resize to size × size, RGB, scale by 1/255, (x − mean) / std, CHW float32."""

    size: int
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def from_metadata(cls, meta: dict[str, str]) -> Preprocess:
        if meta.get("channel_order", "RGB") != "RGB" or meta.get("resize", "bilinear") != "bilinear":
            raise InferError(f"unsupported preprocessing in model metadata: {meta}")
        mean = np.asarray(json.loads(meta["mean"]), dtype=np.float32).reshape(3, 1, 1)
        std = np.asarray(json.loads(meta["std"]), dtype=np.float32).reshape(3, 1, 1)
        return cls(int(meta["input_size"]), mean, std)

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.resize((self.size, self.size), Image.BILINEAR)
        x = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
        return (x - self.mean) / self.std


# --------------------------------------------------------------------------------------------
# The model


class EmbeddingModel:
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
        self.fingerprint = hashlib.sha256(self.path.read_bytes()).hexdigest()

    def load(self, image) -> np.ndarray:
        """A path or PIL image → the (3, H, W) array the model takes."""
        return self.preprocess(open_image(image, self.decode_size))

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
                    if Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith("."):
                        entries.append((child.name, Path(root) / name))
        elif child.suffix.lower() in IMAGE_EXTENSIONS:
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
    """

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        register: str | os.PathLike | None = DEFAULT_REGISTER,
        threshold: float | None = None,
        batch_size: int = 32,
        threads: int | None = None,
        cache: bool = True,
        warn=None,
        bank_dtype: str = "float32",
        read_threads: int | None = None,
    ):
        if bank_dtype not in ("float32", "float16"):
            raise InferError(f"bank_dtype must be float32 or float16, not {bank_dtype!r}")
        self.model = EmbeddingModel(model, threads)
        self.threshold = threshold if threshold is not None else (self.model.threshold or FALLBACK_THRESHOLD)
        self.batch_size = batch_size
        self.read_threads = read_threads or os.cpu_count() or 1  # threads decoding image files
        self.warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
        self._labels: list[str] = []  # every label ever added, in order of first appearance
        self._index: dict[str, int] = {}  # label → its position in _labels
        # float16 halves the bank's memory and the bytes a query reads; scores are still float32.
        self._bank = np.zeros((0, self.model.embed_dim), bank_dtype)
        self._owner = np.zeros(0, np.int64)  # row → index into _labels
        self._grouped: tuple[np.ndarray, np.ndarray | None, list[str]] | None = None  # built on first match
        self.register_dir = Path(register) if register is not None else None
        if self.register_dir is not None:
            self._load_register(self.register_dir, cache)

    # ---- embeddings

    def embed(self, images) -> np.ndarray:
        """Unit-length embeddings (N, D) of paths or PIL images (one image alone → (1, D))."""
        if isinstance(images, (str, os.PathLike, Image.Image)):
            images = [images]
        arrays = list(self.read(images))
        for a in arrays:
            if isinstance(a, InferError):
                raise a
        return self._embed_arrays(arrays)

    def read(self, images: Iterable) -> Iterator:
        """Each path or PIL image as the array the model takes (or the ``InferError`` it raised), in
        order, read on ``read_threads`` threads a few batches ahead."""
        return read_ahead(images, self.model.load, self.read_threads, 2 * self.batch_size)

    def _embed_arrays(self, arrays: list[np.ndarray]) -> np.ndarray:
        if not arrays:
            return np.zeros((0, self.model.embed_dim), np.float32)
        out = [self.model(np.stack(arrays[i : i + self.batch_size])) for i in range(0, len(arrays), self.batch_size)]
        return np.concatenate(out)

    # ---- register

    @property
    def labels(self) -> list[str]:
        return sorted(set(self._labels[i] for i in self._owner))

    def register(self, label: str, image) -> None:
        """Add an example of ``label`` (a path or PIL image) to the in-memory register."""
        embedding = self.embed(image)
        self.add_embeddings([label] * len(embedding), embedding)

    def add_embeddings(self, labels: list[str], embeddings: np.ndarray) -> None:
        """Add precomputed unit embeddings (N, D), one label each, to the in-memory register (one
        copy of the bank, however many are added)."""
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
        self._bank = np.concatenate([self._bank, embeddings.astype(self._bank.dtype, copy=False)])
        self._owner = np.concatenate([self._owner, owners])
        self._grouped = None

    def unregister(self, label: str) -> None:
        if not np.any(self._owner == self._index.get(label, -1)):
            raise KeyError(f"'{label}' is not registered")
        keep = self._owner != self._index[label]
        self._bank, self._owner = self._bank[keep], self._owner[keep]
        self._grouped = None

    def _load_register(self, folder: Path, use_cache: bool) -> None:
        if not folder.is_dir():
            raise InferError(f"{folder}: register folder not found")
        cache_path = folder / CACHE_NAME
        cached = self._read_cache(cache_path) if use_cache else {}
        records: list[dict] = []  # one per usable file, in scan order
        embeddings: list[np.ndarray | None] = []  # None: still to compute
        todo: list[tuple[int, Path]] = []  # (record index, file) of the None entries
        for label, path in scan_register(folder, self.warn):
            rel = path.relative_to(folder).as_posix()
            hit = cached.get(rel)
            try:
                size, mtime = _file_key(path)
                unchanged = hit is not None and (hit["size"], hit["mtime_ns"]) == (size, mtime)
                # Same size and mtime: trust the cache; otherwise the content hash decides.
                digest = hit["sha256"] if unchanged else _sha256(path)
            except OSError as e:
                self.warn(f"{path}: skipped ({e.strerror or e})")
                continue
            if hit is not None and hit["sha256"] == digest:
                embeddings.append(hit["embedding"])
            else:
                todo.append((len(records), path))
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
        if unreadable:
            records = [r for i, r in enumerate(records) if i not in unreadable]
            embeddings = [e for i, e in enumerate(embeddings) if i not in unreadable]
        if not records:
            raise InferError(f"{folder}: register holds no readable images")
        fresh = iter(self._embed_arrays(pending))
        bank = np.stack([next(fresh) if e is None else e for e in embeddings])
        self.add_embeddings([r["label"] for r in records], bank)
        stale = [{k: v for k, v in r.items() if k != "embedding"} for r in cached.values()]
        if use_cache and (
            pending or sorted(records, key=lambda r: r["path"]) != sorted(stale, key=lambda r: r["path"])
        ):
            self._write_cache(cache_path, records, bank)

    def _read_cache(self, path: Path) -> dict[str, dict]:
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("model") != self.model.fingerprint or meta.get("decode_gap") != DECODE_GAP:
                    return {}  # another model, or images decoded another way
                bank = z["embeddings"]
            return {r["path"]: {**r, "embedding": bank[i]} for i, r in enumerate(meta["files"])}
        except FileNotFoundError:
            return {}
        except Exception as e:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            self.warn(f"{path}: unreadable cache ({type(e).__name__}); rebuilding it")
            return {}

    def _write_cache(self, path: Path, records: list[dict], bank: np.ndarray) -> None:
        meta = json.dumps({"model": self.model.fingerprint, "decode_gap": DECODE_GAP, "files": records})
        try:
            fd, tmp = tempfile.mkstemp(prefix=CACHE_NAME, suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, meta=np.array(meta), embeddings=bank)
            # mkstemp makes it private (0600); a cache is as readable as any file the user writes, so
            # others sharing the register (or a Docker image's users) can use it too.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, path)
        except OSError as e:
            self.warn(f"{path}: cannot write the register cache ({e.strerror or e}); continuing without it")

    # ---- matching

    def match(self, embeddings: np.ndarray, k: int = 1) -> list[Match]:
        """Best registered types for each embedding: one matrix product over the whole bank, then
        the best example of each type, then the top k types (ties go to the type added first)."""
        if len(self._owner) == 0:
            raise InferError("the register is empty")
        bank, starts, names = self._grouped_bank()
        cos = self._cosines(np.asarray(embeddings, np.float32), bank)  # (Q, M)
        if starts is not None:  # some type has several examples: its best one counts
            cos = np.maximum.reduceat(cos, starts, axis=1)  # (Q, L)
        scores = (cos + 1.0) / 2.0
        k = max(1, min(k, len(names)))
        results = []
        for row in scores:
            top = [(names[i], float(row[i])) for i in top_indices(row, k)]
            label = top[0][0] if top[0][1] >= self.threshold else None
            results.append(Match(label, top[0][1], top))
        return results

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
        m = self.match(self.embed(image))[0]
        return m.label, m.score

    def classify_batch(self, images) -> list[tuple[str | None, float]]:
        return [(m.label, m.score) for m in self.match(self.embed(list(images)))]

    def top_k(self, image, k: int = 5) -> list[tuple[str, float]]:
        return self.match(self.embed(image), k)[0].top


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
    """Files as given; folders searched recursively for images (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out.extend(Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in IMAGE_EXTENSIONS)
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
    clf = DocClassifier(args.model, args.register, threshold=args.threshold, batch_size=args.batch_size)
    paths = collect_inputs(args.inputs)
    if not paths:
        raise InferError(f"no images found in {', '.join(args.inputs)}")
    results: list[dict] = [{} for _ in paths]  # by input position (a path may repeat)
    progress = Progress(len(paths), enabled=len(paths) >= 50 and sys.stderr.isatty())

    def timed_load(path: Path) -> tuple[np.ndarray, float]:  # on a reading thread
        t0 = time.perf_counter()
        array = clf.model.load(path)
        return array, time.perf_counter() - t0

    loaded = read_ahead(paths, timed_load, clf.read_threads, 2 * args.batch_size)
    for start in range(0, len(paths), args.batch_size):
        arrays, positions, times = [], [], []
        for i in range(start, min(start + args.batch_size, len(paths))):
            outcome = next(loaded)
            if isinstance(outcome, InferError):
                results[i] = {"path": str(paths[i]), "error": str(outcome)}
            else:
                arrays.append(outcome[0])
                positions.append(i)
                times.append(outcome[1])
        if arrays:
            t0 = time.perf_counter()
            matches = clf.match(clf._embed_arrays(arrays), args.top_k)
            shared = (time.perf_counter() - t0) / len(arrays)  # the batch's embed + match, per image
            for i, m, t in zip(positions, matches, times, strict=True):
                results[i] = {
                    "path": str(paths[i]),
                    "label": m.label,
                    "score": round(m.score, 6),
                    "top_k": [{"label": lb, "score": round(s, 6)} for lb, s in m.top],
                    "ms": round(1000 * (t + shared), 3),
                }
        progress.update(min(args.batch_size, len(paths) - start))
    progress.close()
    if args.json:
        doc = {
            "model": str(clf.model.path),
            "register": str(clf.register_dir),
            "threshold": clf.threshold,
            "score": "(cos+1)/2",
            "results": results,
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(format_result(r, args.top_k), file=sys.stderr if "error" in r else sys.stdout)
    return 1 if any("error" in r for r in results) else 0


def format_result(r: dict, k: int) -> str:
    if "error" in r:
        return f"error: {r['error']}"
    best = r["top_k"][0]
    head = (
        f"{r['path']}: {r['label']}  {r['score']:.3f}"
        if r["label"]
        else (f"{r['path']}: unknown  (closest: {best['label']} {best['score']:.3f})")
    )
    if k > 1:
        head += "   [" + ", ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"]) + "]"
    return head


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Classify document images against a register of example images.",
        epilog="Scores are (cos+1)/2 in [0, 1]; below the threshold the answer is 'unknown'. "
        "Exit status: 0 all classified, 1 some inputs could not be read, 2 nothing could run.",
    )
    parser.add_argument("inputs", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--register", default=str(DEFAULT_REGISTER), help="register folder (default: %(default)s)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="ONNX model (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=None, help="minimum score (default: the model's)")
    parser.add_argument("--top-k", type=int, default=1, help="how many candidates to list (default: 1)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
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
