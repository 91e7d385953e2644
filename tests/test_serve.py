"""serve.py: a real uvicorn process on 127.0.0.1, a real HTTP client, the shipped model and register."""

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
TOKEN = "s3cret-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python serve.py`` in its own process group, on a free port; stopped with SIGINT."""

    def __init__(self, register, *args, env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "serve.py", "--register", str(register), "--port", str(self.port), *map(str, args)]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.py exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("serve.py did not come up in 60 s")

    def stop(self) -> str:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.stdout.read()


@pytest.fixture()
def register(tmp_path):
    return shutil.copytree(ROOT / "register", tmp_path / "register", ignore=shutil.ignore_patterns(".*"))


def photo() -> bytes:
    return (ROOT / "examples" / "photo_of_form_9.jpg").read_bytes()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def classify(server, *files, **params):
    uploads = [("file", (name, data)) for name, data in files]
    return httpx.post(server.url + "/classify", files=uploads, params=params, timeout=60)


def test_classify_add_delete_restart(register):
    server = Server(register, "--token", TOKEN)
    try:
        r = classify(server, ("q.jpg", photo()))
        assert r.status_code == 200
        body = r.json()
        assert body["results"][0]["label"] == "form_9" and body["results"][0]["path"] == "q.jpg"
        assert body["policy"]["register_size"] == 6
        assert {t["label"] for t in httpx.get(server.url + "/types").json()["types"]} >= {"form_9", "letter_8"}

        # A new type, live for the next request; the unregistered document now matches it.
        permit = (ROOT / "examples" / "unregistered_document.png").read_bytes()
        assert classify(server, ("p.png", permit)).json()["results"][0]["label"] is None
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r = httpx.post(server.url + "/types/permit", files={"file": ("permit.png", permit)}, headers=auth)
        assert r.status_code == 201, r.text
        assert r.json()["label"] == "permit" and (register / r.json()["file"]).is_file()
        assert classify(server, ("p.png", permit)).json()["results"][0]["label"] == "permit"
        # A second example of an existing one-file type: both end up in its folder.
        r = httpx.post(server.url + "/types/form_9", files={"file": ("f.jpg", photo())}, headers=auth)
        assert r.status_code == 201 and r.json()["examples"] == 2
        assert not (register / "form_9.png").exists() and len(list((register / "form_9").iterdir())) == 2

        # Deleted: out of the bank at once, its files moved to the trash, not lost.
        r = httpx.delete(server.url + "/types/permit", headers=auth)
        assert r.status_code == 200
        assert (register / r.json()["moved_to"] / "permit").is_dir()
        assert classify(server, ("p.png", permit)).json()["results"][0]["label"] is None
        assert "permit" not in {t["label"] for t in httpx.get(server.url + "/types").json()["types"]}

        metrics = httpx.get(server.url + "/metrics").text
        assert re.search(r'docclassifier_requests_total\{method="POST",route="/classify",status="200"\} 4', metrics)
        assert (
            "docclassifier_register_types 6" in metrics
            and 'docclassifier_classify_seconds_bucket{le="+Inf"} 4' in metrics
        )
    finally:
        server.stop()
    # Restarted: the register as it was left.
    server = Server(register)
    try:
        types = {t["label"]: t["examples"] for t in httpx.get(server.url + "/types").json()["types"]}
        assert "permit" not in types and types["form_9"] == 2
    finally:
        server.stop()


def test_bad_input_gets_a_status_and_a_json_reason(register):
    server = Server(register, "--max-upload-mb", "0.5", "--max-pixels", "4000000")
    try:
        cases = [
            (classify(server, ("notes.txt", b"hello, not an image")), 415, "notes.txt: not an image or PDF file"),
            (classify(server, ("big.png", b"\0" * 600_000)), 413, "over the 0.5 MB limit"),
            (classify(server, ("huge.png", png(Image.new("L", (2100, 2000), 255)))), 422, "over the 4,000,000 limit"),
            (classify(server, ("q.jpg", photo()), top_k=0), 422, "top_k must be 1 to 100"),
            (classify(server, ("bad.pdf", b"%PDF-1.4\n" + bytes(200))), 422, "bad.pdf: damaged PDF"),
            (httpx.delete(server.url + "/types/nothing"), 404, "no type 'nothing' in the register"),
            (httpx.get(server.url + "/types/nothing/thumbnail"), 404, "no type 'nothing'"),
            (httpx.post(server.url + "/types/.hidden", files={"file": ("a.jpg", photo())}), 422, "a label is"),
            (httpx.post(server.url + "/types/a%20b", files={"file": ("a.jpg", photo())}), 422, "a label is"),
            (httpx.post(server.url + "/types/..%2Fescape", files={"file": ("a.jpg", photo())}), 404, "Not Found"),
            (httpx.post(server.url + "/classify"), 422, "file: Field required"),
            (httpx.post(server.url + "/types/ok", files={"file": ("a.txt", b"text")}), 415, "not an image"),
        ]
        for response, status, message in cases:
            assert response.status_code == status, (message, response.text)
            assert message in response.json()["error"]
        assert not (register / "ok").exists() and not list(register.parent.rglob("*escape*"))
        assert sorted(p.name for p in register.iterdir() if not p.name.startswith(".")) == sorted(
            p.name for p in (ROOT / "register").iterdir() if not p.name.startswith(".")
        )  # nothing written by refused requests
        # the service is still up and right
        assert classify(server, ("q.jpg", photo())).json()["results"][0]["label"] == "form_9"
    finally:
        server.stop()


def test_pdf_upload_gives_pages_and_documents(register):
    pages = [Image.open(register / f"{t}.png").convert("RGB") for t in ("invoice_20", "invoice_20", "letter_8")]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    server = Server(register)
    try:
        body = classify(server, ("stack.pdf", buf.getvalue())).json()
        assert [(r["page"], r["label"]) for r in body["results"]] == [
            (1, "invoice_20"),
            (2, "invoice_20"),
            (3, "letter_8"),
        ]
        assert body["documents"] == [
            {"path": "stack.pdf", "label": "invoice_20", "pages": [1, 2]},
            {"path": "stack.pdf", "label": "letter_8", "pages": [3, 3]},
        ]
    finally:
        server.stop()


def test_tokens(register):
    server = Server(register, env={"DOCCLASSIFIER_TOKEN": TOKEN})  # from the environment
    try:
        new = {"file": ("a.jpg", photo())}
        assert httpx.post(server.url + "/types/x", files=new).status_code == 401
        assert (
            httpx.post(server.url + "/types/x", files=new, headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert httpx.delete(server.url + "/types/form_9").status_code == 401
        assert classify(server, ("q.jpg", photo())).status_code == 200  # classification stays open
    finally:
        server.stop()
    server = Server(register, "--token", TOKEN, "--token-all")
    try:
        assert classify(server, ("q.jpg", photo())).status_code == 401
        ok = httpx.post(
            server.url + "/classify", files={"file": ("q.jpg", photo())}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200 and ok.json()["results"][0]["label"] == "form_9"
    finally:
        server.stop()
    server = Server(register)  # no token: register changes are open
    try:
        assert httpx.post(server.url + "/types/x", files={"file": ("a.jpg", photo())}).status_code == 201
    finally:
        server.stop()


def test_sixteen_concurrent_clients_get_every_answer_right(register):
    from data.photo import photo_of  # photos of each registered type, made here

    labels = sorted(p.stem for p in register.glob("*.png"))
    photos = {}
    for i, label in enumerate(labels):
        buf = io.BytesIO()
        photo_of(Image.open(register / f"{label}.png").convert("RGB"), seed=i).save(buf, "JPEG", quality=85)
        photos[label] = buf.getvalue()
    server = Server(register)
    try:
        jobs = [labels[i % len(labels)] for i in range(200)]

        def ask(label):
            with httpx.Client(timeout=120) as client:
                r = client.post(server.url + "/classify", files={"file": (f"{label}.jpg", photos[label])})
                return label, r.status_code, r.json()["results"][0]["label"]

        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, jobs))
        assert len(answers) == 200
        assert all(status == 200 and got == want for want, status, got in answers), answers
        metrics = httpx.get(server.url + "/metrics").text
        calls = int(re.search(r"docclassifier_model_calls_total (\d+)", metrics)[1])
        assert calls <= 200  # concurrent requests may share model calls, never more calls than images
    finally:
        server.stop()


def test_processes_on_one_folder_see_each_others_changes(register):
    a = Server(register, "--poll", "0.5", "--token", TOKEN)
    b = Server(register, "--poll", "0.5", "--token", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        permit = (ROOT / "examples" / "unregistered_document.png").read_bytes()

        def add(server, label, data):
            return httpx.post(server.url + f"/types/{label}", files={"file": ("e.png", data)}, headers=auth, timeout=60)

        # Two writers at once: both types land, and the cache stays one readable file.
        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(lambda job: add(*job), [(a, "permit", permit), (b, "form_copy", photo())]))
        assert [r.status_code for r in done] == [201, 201]

        def labels(server):
            return {t["label"] for t in httpx.get(server.url + "/types").json()["types"]}

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            {"permit", "form_copy"} <= labels(a) and {"permit", "form_copy"} <= labels(b)
        ):
            time.sleep(0.2)
        assert {"permit", "form_copy"} <= labels(a) and {"permit", "form_copy"} <= labels(b)
        assert classify(b, ("p.png", permit)).json()["results"][0]["label"] == "permit"
        with np.load(register / ".docclassifier-cache.npz") as z:  # whole, whichever wrote last
            assert len(json.loads(str(z["meta"]))["files"]) == len(z["embeddings"])
        assert httpx.delete(b.url + "/types/permit", headers=auth).status_code == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "permit" in labels(a):
            time.sleep(0.2)
        assert "permit" not in labels(a)
    finally:
        a.stop()
        b.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")
def test_the_page_lists_the_register_in_chromium(register, tmp_path):
    server = Server(register)
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--virtual-time-budget=5000"]
        dom = subprocess.run([*cmd, "--dump-dom", server.url + "/"], capture_output=True, text=True, timeout=90).stdout
        listed = dom.split('<div id="types">', 1)[1].split("</aside>", 1)[0]
        assert len(re.findall(r'<div class="type">', listed)) == 6  # the page's script fetched /types
        assert "form_9" in dom and 'id="drop"' in dom
        shot = tmp_path / "page.png"
        subprocess.run(
            [*cmd, "--window-size=1000,700", f"--screenshot={shot}", server.url + "/"], capture_output=True, timeout=90
        )
        pixels = np.asarray(Image.open(shot).convert("L"), np.float32)
        assert pixels.std() > 20  # drawn: thumbnails of the register beside the drop zone
    finally:
        server.stop()


def test_cli_refuses_what_cannot_run(tmp_path):
    proc = subprocess.run(
        [sys.executable, "serve.py", "--register", str(tmp_path / "missing")], cwd=ROOT, capture_output=True, text=True
    )
    assert (
        proc.returncode == 2
        and proc.stderr.strip() == f"serve.py: error: {tmp_path / 'missing'}: register folder not found"
    )
    proc = subprocess.run([sys.executable, "serve.py", "--token-all"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "--token-all needs a token" in proc.stderr


def test_batcher_embeds_concurrent_images_as_one_at_a_time_would():
    """Images handed in by many threads at once come back as the model gives them one by one (batching
    only changes the summation order inside the network), each to its own caller; with a wait, the
    images of requests arriving together go in fewer calls; after close, the batcher's thread ends
    and an embed still gets an answer."""
    import threading

    import serve
    from infer import OnnxModel

    model = OnnxModel(ROOT / "assets" / "model.onnx", threads=1)
    rng = np.random.default_rng(0)
    size = model.preprocess.size
    arrays = [rng.standard_normal((3, size, size)).astype(np.float32) for _ in range(32)]
    alone = np.concatenate([model(a[None]) for a in arrays])
    for wait_ms in (0.0, 200.0):
        batcher = serve.Batcher(model, wait_ms=wait_ms)
        together = threading.Barrier(16)

        def request(i, batcher=batcher, together=together):
            together.wait()
            return batcher.embed(arrays[i : i + 2])

        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(request, range(0, 32, 2)))
        np.testing.assert_allclose(np.concatenate(got), alone, atol=1e-4)  # unit vectors, float32 sums
        if wait_ms:
            assert batcher.calls < 16  # requests released together shared calls
        batcher.close()
        batcher.thread.join(timeout=10)
        assert not batcher.thread.is_alive()
        np.testing.assert_allclose(batcher.embed(arrays[:3]), alone[:3], atol=1e-4)
