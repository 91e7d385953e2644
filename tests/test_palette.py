"""The palette check (infer.py): colour signatures, and close calls re-ranked by colour."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import infer
from conftest import ROOT
from data.photo import photo_of
from infer import PALETTE_BINS, DocClassifier, PaletteCheck, palette_signature


def solid(rgb, size=(80, 60)) -> Image.Image:
    return Image.new("RGB", size, rgb)


def recoloured(image: Image.Image) -> Image.Image:
    """The same page with its channels rotated: every hue moved by a third of the circle."""
    r, g, b = image.convert("RGB").split()
    return Image.merge("RGB", (b, r, g))


def test_signature_reads_hue_and_ignores_grey():
    grey = palette_signature(solid((128, 128, 128)))
    assert grey.shape == (PALETTE_BINS + 1,) and grey[-1] == 0 and grey[:-1].sum() == 0
    red, green = palette_signature(solid((200, 20, 20))), palette_signature(solid((20, 160, 40)))
    assert red[-1] == pytest.approx(1.0) and red[:-1].sum() == pytest.approx(1.0, abs=1e-5)
    assert np.argmax(red[:-1]) in (0, PALETTE_BINS - 1) and np.argmax(green[:-1]) in range(7, 10)
    check = PaletteCheck()
    assert check.similarity(red, red) == pytest.approx(1.0, abs=1e-5) and check.similarity(red, green) < 0.05
    # Half a page of red on white paper: half its pixels are coloured, the hue is the same.
    half = solid((255, 255, 255), (80, 60))
    half.paste(solid((200, 20, 20), (40, 60)))
    assert palette_signature(half)[-1] == pytest.approx(0.5, abs=0.03)
    assert check.similarity(palette_signature(half), red) > 0.95
    # A warm light on a teal page: still teal, far from orange.
    teal, cast = palette_signature(solid((0, 128, 140))), palette_signature(solid((20, 128, 120)))
    assert check.similarity(teal, cast) > 0.6 and check.similarity(cast, palette_signature(solid((230, 120, 20)))) < 0.1
    # No colour on either side, or on the query: no evidence against anything.
    assert check.similarity(grey, red) == 1.0 and check.similarity(red, grey) == 0.5


def test_signature_takes_the_light_colour_out(monkeypatch):
    """A warm lamp (blue down 18 %, green 6 %) on white paper with a coloured header: the paper is
    made grey again, so the header keeps its hue; without the correction it would not."""
    check = PaletteCheck()
    for colour in ((0, 128, 140), (200, 60, 120), (60, 170, 90)):
        page = solid((245, 245, 245))
        page.paste(solid(colour, (80, 15)))
        warm = Image.fromarray(np.clip(np.asarray(page, np.float32) * [1.0, 0.94, 0.82], 0, 255).astype(np.uint8))
        assert check.similarity(palette_signature(warm), palette_signature(page)) > 0.95, colour
        monkeypatch.setattr(infer, "PALETTE_MAX_GAIN", 1.0)  # no correction
        assert check.similarity(palette_signature(warm), palette_signature(page)) < 0.7, colour
        monkeypatch.undo()
    # A page coloured all over is a coloured page, not a cast: its hue stays (tested above for red).
    assert palette_signature(solid((0, 128, 140)))[-1] == pytest.approx(1.0)


@pytest.fixture()
def siblings(tmp_path):
    """Two registered designs that differ only in colour, and other types."""
    register = shutil.copytree(ROOT / "register", tmp_path / "register", ignore=shutil.ignore_patterns(".*"))
    form = Image.open(register / "form_9.png").convert("RGB")
    recoloured(form).save(register / "form_9_recoloured.png")
    return register, form


def test_close_calls_between_colour_siblings_go_to_the_right_colour(siblings, tmp_path):
    register, form = siblings
    photos = [photo_of(form, seed=s) for s in range(6)] + [photo_of(recoloured(form), seed=s) for s in range(6)]
    truth = ["form_9"] * 6 + ["form_9_recoloured"] * 6
    with_check = DocClassifier(register=register, cache=False, warn=lambda m: None)
    without = DocClassifier(register=register, cache=False, palette=False, warn=lambda m: None)
    embeddings = with_check.embed(photos)
    on = with_check.match(embeddings, k=2, images=photos)
    off = without.match(embeddings, k=2, images=photos)
    assert [m.top[0][0] for m in on] == truth  # colour decides
    for m_on, m_off in zip(on, off, strict=True):
        assert m_off.palette is None
        if m_on.palette is not None and m_on.palette["ran"]:
            # Scores only go down, and the best-fitting colours keep theirs.
            for c in m_on.palette["candidates"]:
                assert c["score"] <= c["embedding_score"] + 1e-9
            assert m_on.top[0][1] <= max(s for _, s in m_off.top) + 1e-9
    assert any(m.palette and m.palette["ran"] for m in on)
    # A grey scan: no colour, no evidence, the embedding's order stands.
    grey = photos[0].convert("L").convert("RGB")
    g = with_check.match(with_check.embed(grey), k=2, images=[grey])[0]
    assert g.palette is None or g.palette["ran"] is False
    assert g.top == without.match(without.embed(grey), k=2, images=[grey])[0].top


def test_palette_of_images_registered_in_memory(siblings):
    register, form = siblings
    clf = DocClassifier(register=None, warn=lambda m: None)
    clf.register("teal", form)  # a picture, not kept: its palette is taken at once
    clf.register("other", recoloured(form))
    photo = photo_of(recoloured(form), seed=3)
    assert clf.classify(photo)[0] == "other"
    clf.unregister("other")
    assert len(clf._palettes) == 1


@pytest.mark.slow
def test_cli_reports_the_palette_and_can_turn_it_off(siblings, tmp_path):
    register, form = siblings
    photo_of(recoloured(form), seed=2).save(tmp_path / "q.jpg", quality=90)
    run = [sys.executable, "infer.py", str(tmp_path / "q.jpg"), "--register", str(register), "--json"]
    on = json.loads(subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    off = json.loads(
        subprocess.run([*run, "--no-palette"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    assert on["palette"] == {"margin": 0.08, "k": 5, "weight": 0.12, "min_colour": 0.001} and "palette" not in off
    assert on["results"][0]["top_k"][0]["label"] == "form_9_recoloured"
    assert on["results"][0]["palette"]["ran"] is True
    assert "palette" not in off["results"][0]


def test_bad_settings_are_refused():
    with pytest.raises(infer.InferError, match="palette check"):
        PaletteCheck(weight=2.0)


def test_eval_scores_what_infer_decides(siblings, tmp_path):
    """eval.py's palette check on the score matrix gives infer.py's answers and scores."""
    import eval as evaluate

    register, form = siblings
    data = tmp_path / "set"
    shutil.copytree(register, data / "register")
    for label, page in (("form_9", form), ("form_9_recoloured", recoloured(form))):
        (data / "queries" / label).mkdir(parents=True)
        for s in range(3):
            photo_of(page, seed=10 + s).save(data / "queries" / label / f"{s}.jpg", quality=90)
    scored = evaluate.score_eval_set(evaluate.onnx_embedder(str(infer.DEFAULT_MODEL)), data, palette=PaletteCheck())
    types = evaluate.load_eval_set(data, print)[0]
    clf = DocClassifier(register=data / "register", cache=False, header=False, warn=lambda m: None)
    paths = sorted((data / "queries").rglob("*.jpg"))
    for row, m in zip(scored.scores, clf.match(clf.embed(paths), k=2, images=paths), strict=True):
        assert types[int(np.argmax(row))] == m.top[0][0]
        assert row.max() == pytest.approx(m.top[0][1], abs=1e-5)
    assert (scored.scores.argmax(1) == scored.truth).all()
