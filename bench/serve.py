"""The HTTP service against in-process classification, on the same photos.

    python bench/serve.py [--requests 400] [--clients 1 4 16] [--batch-wait-ms 0 2] [--workers 1 2] [--json out.json]

Starts ``serve.py`` (the shipped model and a copy of the sample register) on a free port of
127.0.0.1 for each number of ``--workers`` and each ``--batch-wait-ms`` setting, sends
``--requests`` POST /classify requests of one JPEG photo each from 1, 4 and 16 concurrent clients
(threads with their own keep-alive ``http.client`` connection), and reports requests per second
and p50 / p99 latency; then ``DocClassifier.classify_batch`` on the same photos in this process
(files on disk, as infer.py reads them), as the ceiling. The photos are phone-like pictures of the register's types
(``data.photo.photo_of``) at about 1,200 px.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.photo import photo_of  # noqa: E402
from infer import DocClassifier  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_photos(register: Path, folder: Path, n: int) -> list[tuple[str, Path]]:
    labels = sorted(p.stem for p in register.glob("*.png"))
    out = []
    for i in range(n):
        label = labels[i % len(labels)]
        page = Image.open(register / f"{label}.png").convert("RGB")
        page = page.resize((page.width * 1200 // max(page.size), page.height * 1200 // max(page.size)))
        path = folder / f"{i:03d}_{label}.jpg"
        photo_of(page, seed=i).save(path, quality=85)
        out.append((label, path))
    return out


def start(register: Path, wait_ms: float, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, str(ROOT / "serve.py"), "--register", str(register), "--port", str(port)]
    cmd += ["--batch-wait-ms", str(wait_ms), "--poll", "0", "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("serve.py did not start")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field, and its content type."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def load(url: str, photos: list[tuple[str, bytes]], clients: int, requests: int) -> dict:
    """``requests`` POST /classify from ``clients`` threads, each on its own keep-alive connection.
    The clients are lean (http.client, each body encoded once), as a load generator should be: here
    they share the server's two cores, and what they spend is taken from it."""
    host, port = url.removeprefix("http://").split(":")
    bodies = [(label, *multipart(f"{i}.jpg", data)) for i, (label, data) in enumerate(photos)]
    latencies: list[float] = []
    wrong = 0

    def post(conn: http.client.HTTPConnection, body: bytes, kind: str) -> tuple[int, bytes]:
        conn.request("POST", "/classify", body, {"Content-Type": kind})
        response = conn.getresponse()
        return response.status, response.read()

    def client(k: int) -> None:
        nonlocal wrong
        conn = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            for i in range(k, requests, clients):
                label, body, kind = bodies[i % len(bodies)]
                t0 = time.perf_counter()
                status, answer = post(conn, body, kind)
                latencies.append(time.perf_counter() - t0)
                if status != 200 or json.loads(answer)["results"][0]["label"] != label:
                    wrong += 1
        finally:
            conn.close()

    warm = http.client.HTTPConnection(host, int(port), timeout=120)  # warm-up: sessions, threads, caches
    for _, body, kind in bodies[:8]:
        post(warm, body, kind)
    warm.close()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    seconds = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {
        "clients": clients,
        "requests": len(latencies),
        "wrong_or_failed": wrong,
        "req_per_s": len(latencies) / seconds,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * q[98],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--batch-wait-ms", type=float, nargs="+", default=[0.0, 2.0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="serve.py processes")
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        register = shutil.copytree(ROOT / "register", Path(tmp) / "register", ignore=shutil.ignore_patterns(".*"))
        (Path(tmp) / "photos").mkdir()
        files = make_photos(register, Path(tmp) / "photos", args.photos)
        photos = [(label, path.read_bytes()) for label, path in files]
        rows = []
        for workers, wait in ((w, b) for w in args.workers for b in args.batch_wait_ms):
            proc, url = start(register, wait, workers)
            try:
                for clients in args.clients:
                    row = {"workers": workers, "batch_wait_ms": wait, **load(url, photos, clients, args.requests)}
                    rows.append(row)
                    print(
                        f"serve.py, {workers} worker(s), batch wait {wait:g} ms, {clients:>2} clients: "
                        f"{row['req_per_s']:6.1f} req/s, "
                        f"p50 {row['p50_ms']:6.1f} ms, p99 {row['p99_ms']:6.1f} ms, wrong/failed {row['wrong_or_failed']}",
                        flush=True,
                    )
            finally:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=30)
        clf = DocClassifier(register=register)
        paths = [path for _, path in files]
        clf.classify_batch(paths[:8])
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            for start_i in range(0, args.requests, len(paths)):
                clf.classify_batch(paths[: min(len(paths), args.requests - start_i)])
            rates.append(args.requests / (time.perf_counter() - t0))
        in_process = statistics.median(rates)
        print(f"DocClassifier.classify_batch in-process, same photos: {in_process:.1f} img/s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"serve": rows, "classify_batch_img_per_s": in_process}, indent=2))
    best16 = max((r["req_per_s"] for r in rows if r["clients"] == 16), default=None)
    if best16 is not None:
        print(f"16 clients: {best16 / in_process:.2f} of in-process classify_batch throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
