"""infer.py --report: a self-contained HTML review page, rendered by a real headless Chromium."""

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT
from report import render_report, thumbnail

pytestmark = pytest.mark.slow

CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (apt-get install chromium)")


def chromium(*args, timeout=90):
    """Headless Chromium as root in a container: no sandbox, no GPU, its own throwaway profile."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The shipped model and register on a 2-page PDF of registered types, a registered photo and an
    unregistered document, and a file that is not an image."""
    folder = tmp_path_factory.mktemp("report")
    inputs = folder / "inputs"
    inputs.mkdir()
    pages = [Image.open(ROOT / "register" / f"{t}.png").convert("RGB") for t in ("invoice_20", "letter_8")]
    pages[0].save(inputs / "stack.pdf", save_all=True, append_images=pages[1:], resolution=100)
    for name in ("photo_of_form_9.jpg", "unregistered_document.png"):
        shutil.copy(ROOT / "examples" / name, inputs / name)
    (inputs / "broken.png").write_bytes(b"not a png")
    out = folder / "results.html"
    proc = subprocess.run(
        [sys.executable, "infer.py", str(inputs), "--report", str(out), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1  # the broken file
    assert f"report: {out}" in proc.stderr
    return out, json.loads(proc.stdout)


def test_report_is_self_contained_and_orders_what_needs_a_look_first(report):
    out, answers = report
    text = out.read_text()
    # No request leaves the file: every picture is a data: URI, no external script or style.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", text)
    assert text.count('src="data:image/jpeg;base64,') == 2 * 4  # 4 readable inputs × (input, example)
    cards = re.findall(r'<section class="card (\w+)"', text)
    assert cards == ["error", "unknown", "matched", "matched", "matched"]
    labels = {r.get("label") for r in answers["results"]}
    assert {"invoice_20", "letter_8", "form_9", None} <= labels
    assert "stack.pdf#page=2" in text and "broken.png" in text
    # the header says where the threshold comes from (the model's table for which kind of register)
    policy = answers["policy"]
    source = html.escape(policy["source"])
    assert f"threshold: {policy['threshold']}, from: {source}, types: {policy['register_size']}" in text
    assert "the model&#x27;s table for any register: 0.02 of unknown documents accepted" in text


@needs_chromium
def test_report_renders_in_chromium_and_filters_by_label(report, tmp_path):
    out, _ = report
    shot = tmp_path / "shot.png"
    proc = chromium("--window-size=1200,2000", f"--screenshot={shot}", out.as_uri())
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"), np.float32)
    assert pixels.shape[:2] == (2000, 1200)
    # One row per input: each card's coloured left border is a tall, narrow stripe on the page.
    from scipy import ndimage

    borders = [(22, 163, 74), (220, 38, 38), (217, 119, 6), (107, 114, 128)]  # matched, unknown, ambiguous, error
    mask = np.zeros(pixels.shape[:2], bool)
    for rgb in borders:
        mask |= np.abs(pixels - np.array(rgb, np.float32)).max(axis=2) < 12
    labels, n = ndimage.label(mask)
    stripes = [
        sl for sl in ndimage.find_objects(labels) if sl[0].stop - sl[0].start > 40 and sl[1].stop - sl[1].start <= 8
    ]
    assert len(stripes) == 5  # 1 error, 1 unknown, 3 matched (the PDF's two pages and the form photo)
    # Drawn, not blank: the thumbnails and the red "unknown" highlight are on the page.
    assert pixels.std() > 15  # a blank page would be flat
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 200
    # The page's own script filters: #label=unknown leaves the unknown answer only.
    dom = chromium("--dump-dom", out.as_uri() + "#label=unknown").stdout
    shown = re.findall(r'<section class="card (\w+)"', dom)
    hidden = re.findall(r'<section class="card (\w+) hidden"', dom)
    assert shown == ["unknown"] and len(hidden) == 4
    assert '<b id="shown">1</b>' in dom
    dom = chromium("--dump-dom", out.as_uri() + "#q=stack.pdf").stdout
    assert len(re.findall(r'<section class="card \w+"', dom)) == 2  # the PDF's two pages


def test_render_report_escapes_what_it_shows():
    r = {
        "path": "<script>alert(1)</script>.png",
        "label": "a&b",
        "score": 0.9,
        "ambiguous": False,
        "top_k": [{"label": "a&b", "score": 0.9}],
        "thumb": thumbnail(Image.new("RGB", (400, 300), "white")),
    }
    text = render_report([r], {"model": "m.onnx"})
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;" in text
    assert "a&amp;b" in text
    with Image.open(io.BytesIO(base64.b64decode(r["thumb"].split(",")[1]))) as im:
        assert im.format == "JPEG" and max(im.size) == 220
