"""DocClassifier as an HTTP service: classify uploads, change the register live, a page to try it.

    python serve.py                                   # shipped model and register/, http://127.0.0.1:8000
    python serve.py --register my_types/ --host 0.0.0.0 --port 8000 --workers 2 --token SECRET

    curl -F file=@photo.jpg http://127.0.0.1:8000/classify
    curl -F file=@form.png -H "Authorization: Bearer SECRET" http://127.0.0.1:8000/types/form_v2
    curl -X DELETE -H "Authorization: Bearer SECRET" http://127.0.0.1:8000/types/form_v2

Endpoints: ``POST /classify`` (one or more files: images, PDFs, multi-page TIFFs → infer.py's JSON
records, with the register's decision policy), ``GET /types``, ``POST /types/{label}`` (an example,
written into the register folder atomically and live for the next request), ``DELETE
/types/{label}`` (out at once; its files moved to ``<register>/.trash/``, never deleted), ``GET
/types/{label}/thumbnail``, ``GET /health``, ``GET /metrics`` (Prometheus text), ``GET /`` (a page to
drop a photo or PDF on).

One ONNX Runtime session serves every request. The register is an immutable snapshot (a
``DocClassifier`` over the folder, its cache reused): a change builds the next snapshot and swaps it
in at once, so a request sees the register before or after a change, never half of one. Every
process re-checks the folder every ``--poll`` seconds, so several processes (``--workers``, or
replicas over a shared folder) see a change made through any of them; the register cache is written
by atomic rename, so two writers leave one whole cache. The images of concurrent requests are
embedded together: whatever is waiting when the model is free goes through it in one call
(``--batch-wait-ms`` to wait for more). Torch-free: what the slim inference image has.
"""

import argparse
import io
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from atomic import write_atomic
from documents import PDF_SUFFIXES, DocumentError, group_documents, pages_of
from infer import (
    CACHE_NAME,
    DEFAULT_MODEL,
    DEFAULT_REGISTER,
    IMAGE_EXTENSIONS,
    DocClassifier,
    InferError,
    OnnxModel,
    open_image,
)
from policy import SETTINGS_NAME

MAX_UPLOAD_MB = 20.0
MAX_PIXELS = 60_000_000  # an upload decoding to more pixels than this is refused (422)
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TRASH = ".trash"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServiceError(Exception):
    """A request the service refuses: an HTTP status and a one-line reason (the JSON body)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------------------------
# Batching concurrent requests into one model call


class Batcher:
    """Embeds preprocessed images for many request threads, one model call at a time: whatever
    images are waiting when the model is free (up to ``max_batch``) go through it in one call, so
    batches grow with the load and a lone request waits for nobody. ``wait_ms`` > 0: the first image
    also waits that long for others."""

    def __init__(self, model: OnnxModel, wait_ms: float, max_batch: int = 64):
        self.model, self.wait, self.max_batch = model, wait_ms / 1000, max_batch
        self._queue: list[tuple[np.ndarray, Future]] = []
        self._cond = threading.Condition()
        self.calls = 0  # model calls made (for /metrics)
        self._closed = False
        self.thread = threading.Thread(target=self._run, name="docclassifier-batcher", daemon=True)
        self.thread.start()

    def embed(self, arrays: list[np.ndarray]) -> np.ndarray:
        if not arrays:
            return np.zeros((0, self.model.embed_dim), np.float32)
        futures = []
        with self._cond:
            if self._closed:  # shutting down: no thread to hand them to
                self.calls += 1
                return self.model(np.stack(arrays))
            for a in arrays:
                f: Future = Future()
                self._queue.append((a, f))
                futures.append(f)
            self._cond.notify()
        return np.stack([f.result() for f in futures])

    def close(self) -> None:
        """The batcher's thread ends once the images already waiting are embedded."""
        with self._cond:
            self._closed = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                deadline = time.monotonic() + self.wait
                while len(self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            try:
                out = self.model(np.stack([a for a, _ in batch]))
                self.calls += 1
                for (_, f), row in zip(batch, out, strict=True):
                    f.set_result(row)
            except Exception as e:  # noqa: BLE001 - handed to every waiting request
                for _, f in batch:
                    f.set_exception(e)


# --------------------------------------------------------------------------------------------
# Metrics


@dataclass
class Metrics:
    requests: Counter = field(default_factory=Counter)  # (method, route, status) → count
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    seconds: float = 0.0
    count: int = 0
    images: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[(method, route, status)] += 1
            if route == "/classify":
                self.count += 1
                self.seconds += seconds
                i = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
                self.buckets[i] += 1

    def text(self, types: int, examples: int, model_calls: int) -> str:
        lines = [
            "# HELP docclassifier_requests_total HTTP requests by method, route and status.",
            "# TYPE docclassifier_requests_total counter",
        ]
        with self.lock:
            for (method, route, status), n in sorted(self.requests.items()):
                lines.append(f'docclassifier_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            errors = sum(n for (_, _, status), n in self.requests.items() if status >= 400)
            lines += [
                "# HELP docclassifier_errors_total Requests answered with a 4xx or 5xx status.",
                "# TYPE docclassifier_errors_total counter",
                f"docclassifier_errors_total {errors}",
                "# HELP docclassifier_classify_seconds Time to answer POST /classify.",
                "# TYPE docclassifier_classify_seconds histogram",
            ]
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, "+Inf"), self.buckets, strict=True):
                cumulative += n
                lines.append(f'docclassifier_classify_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines += [
                f"docclassifier_classify_seconds_sum {self.seconds:.6f}",
                f"docclassifier_classify_seconds_count {self.count}",
                "# HELP docclassifier_images_total Images and pages classified.",
                "# TYPE docclassifier_images_total counter",
                f"docclassifier_images_total {self.images}",
            ]
        lines += [
            "# HELP docclassifier_model_calls_total Model calls (one call embeds a batch of concurrent requests' images).",
            "# TYPE docclassifier_model_calls_total counter",
            f"docclassifier_model_calls_total {model_calls}",
            "# HELP docclassifier_register_types Registered document types.",
            "# TYPE docclassifier_register_types gauge",
            f"docclassifier_register_types {types}",
            "# HELP docclassifier_register_examples Registered example images (and pages).",
            "# TYPE docclassifier_register_examples gauge",
            f"docclassifier_register_examples {examples}",
        ]
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# The service


def folder_signature(folder: Path) -> tuple:
    """What the register folder holds, cheaply: every example file's path, size and modification
    time, and the settings file's (the cache and hidden entries left out)."""
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or name == CACHE_NAME:
                continue
            path = Path(root) / name
            if name == SETTINGS_NAME or path.suffix.lower() in IMAGE_EXTENSIONS | PDF_SUFFIXES:
                try:
                    st = path.stat()
                except OSError:
                    continue
                entries.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns))
    return tuple(sorted(entries))


class Service:
    """The model, the current register snapshot and the register folder behind it."""

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        register: str | os.PathLike = DEFAULT_REGISTER,
        batch_wait_ms: float = 0.0,
        max_upload_mb: float = MAX_UPLOAD_MB,
        max_pixels: int = MAX_PIXELS,
        poll_seconds: float = 2.0,
        warn=None,
    ):
        self.register_dir = Path(register)
        if not self.register_dir.is_dir():
            raise InferError(f"{self.register_dir}: register folder not found")
        self.warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr, flush=True))
        # One thread per model call: the model is a small part of a request (about 0.3 ms of 6), its
        # calls come one at a time from the batcher, and the other cores decode uploads meanwhile.
        self.model = OnnxModel(model, threads=1)
        self.batcher = Batcher(self.model, batch_wait_ms)
        self.max_upload = int(max_upload_mb * 1024 * 1024)
        self.limit = f"{max_upload_mb:g} MB"
        self.max_pixels = max_pixels
        self.metrics = Metrics()
        self._change = threading.Lock()  # one register change (or reload) at a time
        self._signature: tuple = ()
        self.clf: DocClassifier | None = None
        self.reload(force=True)
        self._stop = threading.Event()
        if poll_seconds > 0:
            threading.Thread(target=self._poll, args=(poll_seconds,), name="docclassifier-poll", daemon=True).start()

    # ---- the register snapshot

    def reload(self, force: bool = False) -> bool:
        """Build a snapshot from the folder if it changed (or ``force``) and swap it in; True if it did."""
        with self._change:
            signature = folder_signature(self.register_dir)
            if not force and signature == self._signature:
                return False
            if not any(True for _ in self._examples_in(signature)):
                clf = None  # an empty register: classification answers 409 until a type is added
            else:
                clf = DocClassifier(self.model, self.register_dir, warn=self.warn)
                clf.prepare()  # built now, so requests only read it
            self.clf, self._signature = clf, signature
            return True

    @staticmethod
    def _examples_in(signature: tuple):
        return (e for e in signature if Path(e[0]).name != SETTINGS_NAME)

    def _poll(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self.reload()
            except Exception as e:  # noqa: BLE001 - a bad moment in the folder; try again next time
                self.warn(f"{self.register_dir}: reload failed ({e}); keeping the register as it was")

    def close(self) -> None:
        self._stop.set()
        self.batcher.close()

    # ---- reading uploads

    def read_upload(self, name: str, data: bytes) -> list[tuple[dict, Image.Image | InferError]]:
        """An uploaded file as (where, image or error) per page: a PDF or multi-page TIFF gives its
        pages. Raises ServiceError for what makes the whole file unusable."""
        if len(data) > self.max_upload:
            raise ServiceError(413, f"{name}: {len(data) / 2**20:.1f} MB, over the {self.limit} limit")
        suffix = Path(name).suffix.lower()
        is_pdf = data[:1024].find(b"%PDF") >= 0
        if is_pdf or suffix in PDF_SUFFIXES:
            return self._read_pages(name, data, ".pdf")
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                frames = getattr(im, "n_frames", 1)
                fmt = im.format
        except Image.DecompressionBombError:
            raise ServiceError(422, f"{name}: too many pixels") from None
        except (OSError, ValueError, SyntaxError):
            raise ServiceError(415, f"{name}: not an image or PDF file") from None
        if w * h > self.max_pixels:
            raise ServiceError(422, f"{name}: {w}×{h} pixels, over the {self.max_pixels:,} limit")
        if fmt == "TIFF" and frames > 1:
            return self._read_pages(name, data, ".tif")
        try:  # a JPEG decoded at the reduced scale the model needs, as infer.py decodes a file
            image = open_image(io.BytesIO(data), self.model.decode_size)
        except InferError as e:
            raise ServiceError(415, f"{name}: {e}") from None
        return [({"path": name}, image)]

    def _read_pages(self, name: str, data: bytes, suffix: str) -> list[tuple[dict, Image.Image | InferError]]:
        with tempfile.TemporaryDirectory(prefix="docclassifier-") as tmp:
            path = Path(tmp) / f"upload{suffix}"
            path.write_bytes(data)
            try:
                pages = pages_of(path)
            except DocumentError as e:
                raise ServiceError(415 if "not a PDF" in str(e) else 422, str(e).replace(str(path), name)) from None
            out = []
            for page in pages:
                where = {"path": name, "page": page.number}
                try:
                    out.append((where, open_image(page, self.model.decode_size)))
                except InferError as e:
                    out.append((where, InferError(str(e).replace(str(path), name))))
            return out

    # ---- answers

    def classify(self, files: list[tuple[str, bytes]], top_k: int = 1) -> dict:
        clf = self.clf  # one snapshot for the whole request
        if clf is None:
            raise ServiceError(409, "the register is empty: add a type first (POST /types/{label})")
        inputs = []
        for name, data in files:
            inputs.extend(self.read_upload(name, data))
        results: list[dict] = []
        arrays, slots, images = [], [], []
        for where, image in inputs:
            if isinstance(image, InferError):
                results.append({**where, "error": str(image)})
                continue
            slots.append(len(results))
            results.append(where)
            arrays.append(clf.model.preprocess(image))
            images.append(image)  # for the palette check on close calls
        t0 = time.perf_counter()
        embeddings = self.batcher.embed(arrays)
        matches = clf.match(embeddings, top_k, images=images) if len(arrays) else []
        ms = 1000 * (time.perf_counter() - t0) / max(len(arrays), 1)
        for slot, m in zip(slots, matches, strict=True):
            results[slot].update(
                label=m.label,
                score=round(m.score, 6),
                ambiguous=m.ambiguous,
                top_k=[{"label": lb, "score": round(s, 6)} for lb, s in m.top],
                ms=round(ms, 3),
            )
            if m.ambiguous:
                results[slot]["candidates"] = [{"label": lb, "score": round(s, 6)} for lb, s in (m.top[0], m.runner_up)]
        with self.metrics.lock:
            self.metrics.images += len(arrays)
        policy = clf.policy()
        return {
            "threshold": round(policy.threshold, 6),
            "policy": policy.to_dict(),
            "score": "(cos+1)/2",
            "results": results,
            "documents": group_documents(results),
        }

    def types(self) -> list[dict]:
        clf = self.clf
        if clf is None:
            return []
        counts = clf.example_counts()
        return [{"label": label, "examples": counts[label]} for label in sorted(counts)]

    def thumbnail_of(self, label: str) -> bytes:
        clf = self.clf
        if clf is None or label not in clf.labels:
            raise ServiceError(404, f"no type '{label}' in the register")
        examples = clf.examples_of(label)
        if not examples:
            raise ServiceError(404, f"type '{label}' has no example to show")
        image = open_image(examples[0], 256)
        image.thumbnail((256, 256))
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=80)
        return buf.getvalue()

    # ---- register changes

    def add_example(self, label: str, name: str, data: bytes) -> dict:
        if not LABEL.match(label):
            raise ServiceError(
                422, f"'{label}': a label is letters, digits, '.', '_' or '-' (up to 100, not starting with '.')"
            )
        pages = self.read_upload(name, data)  # refused here, before anything is written
        if any(isinstance(image, InferError) for _, image in pages):
            raise ServiceError(422, next(str(im) for _, im in pages if isinstance(im, InferError)))
        suffix = Path(name).suffix.lower()
        if suffix not in IMAGE_EXTENSIONS | PDF_SUFFIXES:
            suffix = ".pdf" if data[:1024].find(b"%PDF") >= 0 else ".png"
        with self._change:
            folder = self.register_dir / label
            single = [p for p in self.register_dir.glob(f"{glob_escape(label)}.*") if p.is_file() and p.stem == label]
            folder.mkdir(exist_ok=True)
            for existing in single:  # one type, one place: a lone example joins the type's folder
                os.replace(existing, unique_path(folder, existing.name))
            digest = secrets.token_hex(6)
            target = unique_path(folder, f"{time.strftime('%Y%m%d-%H%M%S')}-{digest}{suffix}")
            write_atomic(target, data)
        self.reload(force=True)
        return {"label": label, "file": str(target.relative_to(self.register_dir)), "examples": self._count(label)}

    def delete_type(self, label: str) -> dict:
        with self._change:
            found = [p for p in self.register_dir.iterdir() if not p.name.startswith(".") and _label_of(p) == label]
            if not found:
                raise ServiceError(404, f"no type '{label}' in the register")
            trash = self.register_dir / TRASH / f"{time.strftime('%Y%m%d-%H%M%S')}-{label}-{secrets.token_hex(3)}"
            trash.mkdir(parents=True)
            for p in found:
                shutil.move(str(p), str(trash / p.name))
        self.reload(force=True)
        return {"label": label, "moved_to": str(trash.relative_to(self.register_dir))}

    def _count(self, label: str) -> int:
        return next((t["examples"] for t in self.types() if t["label"] == label), 0)


def _label_of(path: Path) -> str | None:
    """The type a top-level entry of the register folder belongs to (infer.scan_register's rule)."""
    if path.is_dir():
        return path.name
    if path.suffix.lower() in IMAGE_EXTENSIONS | PDF_SUFFIXES:
        return path.stem
    return None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def unique_path(folder: Path, name: str) -> Path:
    path, n = folder / name, 1
    while path.exists():
        path, n = folder / f"{Path(name).stem}-{n}{Path(name).suffix}", n + 1
    return path


# --------------------------------------------------------------------------------------------
# HTTP


class MeasureAndLimit:
    """ASGI middleware around every HTTP request: a body announced over the upload limit is refused
    (413) before it is read, and each request is counted in the metrics by method, route and status,
    with its time. Plain ASGI: Starlette's ``BaseHTTPMiddleware`` costs a task and a stream per request."""

    def __init__(self, app, service: Service):
        self.app = app
        self.service = service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse

        t0 = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering
        length = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        try:
            if length.isdigit() and int(length) > self.service.max_upload + 64 * 1024:
                status = 413
                message = f"request of {int(length) / 2**20:.1f} MB, over the {self.service.limit} limit"
                await JSONResponse({"error": message}, status_code=413)(scope, receive, send)
                return

            async def send_and_note(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")  # set by the router on this same scope
            path = route.path if route is not None else "unmatched"
            self.service.metrics.observe(scope["method"], path, status, time.perf_counter() - t0)


def create_app(service: Service, token: str | None = None, token_all: bool = False):
    from fastapi import FastAPI, File, Request, UploadFile
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(title="DocClassifier", version="1", docs_url="/docs", redoc_url=None)
    app.state.service = service

    def check_token(request: Request, needed: bool) -> None:
        if not needed or not token:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise ServiceError(401, "a bearer token is required (Authorization: Bearer <token>)")

    app.add_middleware(MeasureAndLimit, service=service)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, e: ServiceError):
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(InferError)
    async def infer_error(request: Request, e: InferError):
        return JSONResponse({"error": str(e)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):  # no such route, wrong method
        return JSONResponse({"error": f"{request.method} {request.url.path}: {e.detail}"}, status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError):  # e.g. no file in the form
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, status_code=422)

    async def read(upload: UploadFile) -> tuple[str, bytes]:
        data = await upload.read(service.max_upload + 1)
        name = Path(upload.filename or "upload").name
        if len(data) > service.max_upload:
            raise ServiceError(413, f"{name}: over the {service.limit} limit")
        return name, data

    @app.post("/classify")
    async def classify(request: Request, file: list[UploadFile] = File(...), top_k: int = 1):  # noqa: B008
        check_token(request, token_all)
        if not 1 <= top_k <= 100:
            raise ServiceError(422, f"top_k must be 1 to 100, got {top_k}")
        files = [await read(f) for f in file]
        # JSONResponse directly: the records are plain JSON already, FastAPI's encoder would only walk them again
        return JSONResponse(await run_in_threadpool(service.classify, files, top_k))

    @app.get("/types")
    async def types():
        return {"types": service.types()}

    @app.post("/types/{label}")
    async def add(label: str, request: Request, file: UploadFile = File(...)):  # noqa: B008
        check_token(request, True)
        name, data = await read(file)
        return JSONResponse(await run_in_threadpool(service.add_example, label, name, data), status_code=201)

    @app.delete("/types/{label}")
    async def delete(label: str, request: Request):
        check_token(request, True)
        return await run_in_threadpool(service.delete_type, label)

    @app.get("/types/{label}/thumbnail")
    async def thumb(label: str, request: Request):
        check_token(request, token_all)
        return Response(await run_in_threadpool(service.thumbnail_of, label), media_type="image/jpeg")

    @app.get("/health")
    async def health():
        clf = service.clf
        return {"status": "ok", "types": len(clf.labels) if clf else 0, "model": str(service.model.path)}

    @app.get("/metrics")
    async def metrics():
        clf = service.clf
        text = service.metrics.text(
            len(clf.labels) if clf else 0, clf.num_examples if clf else 0, service.batcher.calls
        )
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return PAGE

    return app


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>DocClassifier</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
header{background:#fff;border-bottom:1px solid #ddd;padding:12px 16px}
h1{font-size:18px;margin:0}
main{display:grid;grid-template-columns:minmax(320px,1fr) 340px;gap:16px;padding:16px}
#drop{border:2px dashed #999;border-radius:8px;background:#fff;padding:28px;text-align:center;cursor:pointer}
#drop.over{border-color:#2563eb;background:#eff6ff}
.result{background:#fff;border:1px solid #ddd;border-left:6px solid #16a34a;border-radius:6px;padding:10px;margin-top:12px}
.result.unknown{border-left-color:#dc2626;background:#fef2f2}.result.ambiguous{border-left-color:#d97706;background:#fffbeb}
.result.error{border-left-color:#6b7280}
.pair{display:flex;gap:10px;flex-wrap:wrap}.pair img{max-width:220px;max-height:220px;border:1px solid #ccc}
.answer{font-size:16px;font-weight:600;margin:4px 0}
aside{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
.type{display:flex;gap:8px;align-items:center;margin:6px 0}.type img{width:64px;height:64px;object-fit:contain;border:1px solid #ddd}
</style></head><body>
<header><h1>DocClassifier</h1><div id="status"></div></header>
<main><section>
<div id="drop">Drop a photo or PDF here, or click to choose one<input id="file" type="file" accept="image/*,.pdf,.tif,.tiff" hidden></div>
<div id="results"></div></section>
<aside><b>Registered types</b> <span id="count"></span><div id="types"></div></aside></main>
<script>
const esc = s => String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]));
async function loadTypes() {
  const r = await fetch('types'); const d = await r.json();
  document.getElementById('count').textContent = '(' + d.types.length + ')';
  document.getElementById('types').innerHTML = d.types.map(t =>
    `<div class="type"><img loading="lazy" src="types/${encodeURIComponent(t.label)}/thumbnail" alt="">` +
    `<span>${esc(t.label)} <small>${t.examples} example(s)</small></span></div>`).join('');
}
function card(r, preview) {
  if (r.error) return `<div class="result error"><div class="answer">${esc(r.path)}: could not be read</div>${esc(r.error)}</div>`;
  const status = r.label === null ? 'unknown' : (r.ambiguous ? 'ambiguous' : 'matched');
  const best = r.top_k[0];
  const answer = r.label === null ? `unknown <small>(closest: ${esc(best.label)} ${best.score.toFixed(3)})</small>`
    : `${esc(r.label)} ${r.score.toFixed(3)}` + (r.ambiguous ? ` <small>(or: ${esc(r.candidates[1].label)} ${r.candidates[1].score.toFixed(3)})</small>` : '');
  const where = esc(r.path) + (r.page ? ' page ' + r.page : '');
  return `<div class="result ${status}" data-status="${status}"><div>${where}</div><div class="answer">${answer}</div>` +
    `<div class="pair">${preview ? `<img src="${preview}" alt="input">` : ''}` +
    `<img src="types/${encodeURIComponent(best.label)}/thumbnail" alt="register example"></div></div>`;
}
async function classify(file) {
  const body = new FormData(); body.append('file', file);
  document.getElementById('status').textContent = 'classifying ' + file.name + ' ...';
  const r = await fetch('classify?top_k=3', {method: 'POST', body});
  const d = await r.json();
  document.getElementById('status').textContent = r.ok ? '' : 'error: ' + d.error;
  if (!r.ok) return;
  const preview = file.type.startsWith('image/') && !file.type.includes('tif') ? URL.createObjectURL(file) : null;
  document.getElementById('results').innerHTML = d.results.map(x => card(x, preview)).join('');
}
const drop = document.getElementById('drop'), input = document.getElementById('file');
drop.onclick = () => input.click();
input.onchange = () => input.files[0] && classify(input.files[0]);
drop.ondragover = e => { e.preventDefault(); drop.classList.add('over'); };
drop.ondragleave = () => drop.classList.remove('over');
drop.ondrop = e => { e.preventDefault(); drop.classList.remove('over'); e.dataTransfer.files[0] && classify(e.dataTransfer.files[0]); };
loadTypes();
</script></body></html>
"""


# --------------------------------------------------------------------------------------------
# Command line


def settings_from_env() -> dict:
    """The service's settings as main() passes them to worker processes (uvicorn --workers)."""
    env = os.environ
    return {
        "model": env.get("DOCCLASSIFIER_MODEL", str(DEFAULT_MODEL)),
        "register": env.get("DOCCLASSIFIER_REGISTER", str(DEFAULT_REGISTER)),
        "batch_wait_ms": float(env.get("DOCCLASSIFIER_BATCH_WAIT_MS", "0")),
        "max_upload_mb": float(env.get("DOCCLASSIFIER_MAX_UPLOAD_MB", str(MAX_UPLOAD_MB))),
        "max_pixels": int(env.get("DOCCLASSIFIER_MAX_PIXELS", str(MAX_PIXELS))),
        "poll_seconds": float(env.get("DOCCLASSIFIER_POLL_SECONDS", "2")),
    }


def app_from_env():
    """The app factory each worker process calls (``uvicorn serve:app_from_env --factory``)."""
    service = Service(**settings_from_env())
    token = os.environ.get("DOCCLASSIFIER_TOKEN") or None
    return create_app(service, token, os.environ.get("DOCCLASSIFIER_TOKEN_ALL") == "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve DocClassifier over HTTP (FastAPI on uvicorn).")
    parser.add_argument("--register", default=str(DEFAULT_REGISTER), help="register folder (default: %(default)s)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="ONNX model (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="processes serving the same register (default: 1)")
    parser.add_argument("--token", default=None, help="bearer token for register changes (or DOCCLASSIFIER_TOKEN)")
    parser.add_argument("--token-all", action="store_true", help="require the token for classification too")
    parser.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, help="per request (default: %(default)s)")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS, help="per image (default: %(default)s)")
    parser.add_argument(
        "--batch-wait-ms",
        type=float,
        default=0.0,
        help="the first image waiting for the model also waits this long for others (default 0: the images "
        "waiting when the model is free go in one call, and a lone request waits for nobody: BENCHMARKS.md)",
    )
    parser.add_argument("--poll", type=float, default=2.0, help="re-check the register folder every N s (0: never)")
    args = parser.parse_args(argv)
    token = args.token or os.environ.get("DOCCLASSIFIER_TOKEN") or None
    if args.token_all and not token:
        parser.error("--token-all needs a token (--token or DOCCLASSIFIER_TOKEN)")
    if args.workers < 1:
        parser.error(f"--workers must be 1 or more, got {args.workers}")
    try:
        import uvicorn
    except ImportError:
        print("serve.py: error: needs fastapi and uvicorn (pip install -r requirements-infer.txt)", file=sys.stderr)
        return 2
    os.environ.update(
        DOCCLASSIFIER_MODEL=str(Path(args.model).resolve()),
        DOCCLASSIFIER_REGISTER=str(Path(args.register).resolve()),
        DOCCLASSIFIER_BATCH_WAIT_MS=str(args.batch_wait_ms),
        DOCCLASSIFIER_MAX_UPLOAD_MB=str(args.max_upload_mb),
        DOCCLASSIFIER_MAX_PIXELS=str(args.max_pixels),
        DOCCLASSIFIER_POLL_SECONDS=str(args.poll),
        DOCCLASSIFIER_TOKEN_ALL="1" if args.token_all else "0",
    )
    if token:
        os.environ["DOCCLASSIFIER_TOKEN"] = token
    try:  # fail here, in one line, rather than in every worker
        Service(**{**settings_from_env(), "poll_seconds": 0}).close()
    except InferError as e:
        print(f"serve.py: error: {e}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    uvicorn.run(
        "serve:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers, log_level="warning"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
