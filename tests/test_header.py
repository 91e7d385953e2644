"""The header check (infer.py): close calls re-ranked by the tops of the pages, embedded on their own."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

import infer
from conftest import ROOT
from data.photo import photo_of
from infer import DocClassifier, HeaderCheck, header_strip, open_image, rerank_by

PAGES = ("invoice_20", "form_9", "letter_8", "receipt_13")


def reheaded(page: Image.Image) -> Image.Image:
    """The same page under another issuer's name: the header's left part painted over in the paper's
    colour and another name written there, the rest of the page untouched."""
    page = page.convert("RGB").copy()
    w, h = page.size
    a = np.asarray(page)
    paper = tuple(int(v) for v in np.median(np.concatenate([a[0], a[-1]]), axis=0))
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, int(0.7 * w), int(0.14 * h)), fill=paper)
    font = ImageFont.load_default(size=max(8, int(0.06 * h)))
    draw.text((int(0.06 * w), int(0.03 * h)), "Northwind Supply Co.", fill=(30, 30, 30), font=font)
    return page


@pytest.fixture(scope="module")
def siblings(tmp_path_factory):
    """The sample register with, for four of its pages, a sibling under another issuer's name."""
    register = shutil.copytree(
        ROOT / "register", tmp_path_factory.mktemp("header") / "register", ignore=shutil.ignore_patterns(".*")
    )
    for name in PAGES:
        reheaded(Image.open(register / f"{name}.png")).save(register / f"{name}_reheaded.png")
    return register


def photos_of(register):
    photos, truth = [], []
    for name in PAGES:
        page = Image.open(register / f"{name}.png").convert("RGB")
        for s in range(3):
            photos += [photo_of(page, seed=s), photo_of(reheaded(page), seed=s)]
            truth += [name, f"{name}_reheaded"]
    return photos, truth


def test_rerank_only_lowers_scores_and_the_best_evidence_keeps_its_score():
    top = [("a", 0.90), ("b", 0.88), ("c", 0.80)]
    ranked = rerank_by(top, [0.5, 0.9, None], weight=0.5)
    assert [label for _, _, label, _ in ranked] == ["b", "c", "a"]  # a: 0.90 - 0.5 × 0.4
    new = {label: score for score, _, label, _ in ranked}
    assert new["b"] == 0.88 and new["a"] == pytest.approx(0.90 - 0.5 * 0.4) and new["c"] == 0.80
    # No evidence anywhere: the embedding's order and scores stand; ties keep it too.
    assert [(s, label) for s, _, label, _ in rerank_by(top, [None] * 3, 0.5)] == [(s, lb) for lb, s in top]
    assert [label for _, _, label, _ in rerank_by([("x", 0.7), ("y", 0.7)], [0.6, 0.6], 1.0)] == ["x", "y"]


def test_strip_is_the_top_of_the_page():
    page = Image.new("RGB", (200, 100), "white")
    page.paste((0, 0, 0), (0, 0, 200, 35))  # a black band over the top 35 %
    strip = header_strip(page, 0.35)
    assert strip.size == (200, 35) and np.asarray(strip).max() == 0
    assert header_strip(page, 0.5).size == (200, 50)


def test_close_calls_go_to_the_page_whose_header_fits(siblings):
    """Forced on every query (margin 1): each candidate's score is its embedding's minus weight ×
    (the best header score − its own), the header scores are the strips' cosines, and a page's own
    header fits its photos better than its sibling's (most of them: a photo's top is not the page's)."""
    check = HeaderCheck(margin=1.0, weight=0.5)
    clf = DocClassifier(register=siblings, cache=False, header=check, palette=False, warn=lambda m: None)
    plain = DocClassifier(register=siblings, cache=False, header=False, palette=False, warn=lambda m: None)
    photos, truth = photos_of(siblings)
    embeddings = clf.embed(photos)
    on, off = clf.match(embeddings, k=2, images=photos), plain.match(embeddings, k=2, images=photos)
    assert [m.top[0][0] for m in on] == truth
    strips = lambda images: clf.embed([header_strip(open_image(i, 800), check.strip) for i in images])  # noqa: E731
    own = strips([siblings / f"{t}.png" for t in truth])
    sibling = strips([siblings / f"{n}.png" for n in sibling_names(truth)])
    queries = strips(photos)
    assert ((queries * own).sum(1) > (queries * sibling).sum(1)).mean() >= 0.8  # a photo's top is not exact
    for m_on, m_off in zip(on, off, strict=True):
        assert m_off.header is None and m_on.header["ran"] is True
        cands = m_on.header["candidates"]
        best = max(c["similarity"] for c in cands)
        for c in cands:
            assert c["score"] == pytest.approx(c["embedding_score"] - check.weight * (best - c["similarity"]), abs=1e-6)
            assert c["score"] <= c["embedding_score"] + 1e-9
        assert m_on.top[0][1] <= m_off.top[0][1] + 1e-9  # scores only go down: the policy's FPR holds
    # The header scores are (cos + 1) / 2 of the strips' embeddings (decoded as infer.py decodes).
    first = on[0].header["candidates"]
    sims = {c["label"]: c["similarity"] for c in first}
    assert sims[truth[0]] == pytest.approx((float(queries[0] @ own[0]) + 1) / 2, abs=1e-3)


def sibling_names(truth):
    return [t[: -len("_reheaded")] if t.endswith("_reheaded") else f"{t}_reheaded" for t in truth]


def test_default_check_only_runs_on_close_calls(siblings):
    clf = DocClassifier(register=siblings, cache=False, warn=lambda m: None)
    assert clf.header == HeaderCheck()
    photos, truth = photos_of(siblings)
    matches = clf.match(clf.embed(photos), k=2, images=photos)
    for m in matches:
        close = m.top[0][1] - m.top[1][1] < clf.header.margin or m.header is not None
        assert (m.header is not None) == close
    never = DocClassifier(register=siblings, cache=False, header=HeaderCheck(margin=0.0), warn=lambda m: None)
    assert all(m.header is None for m in never.match(never.embed(photos), k=2, images=photos))


def test_header_of_images_registered_in_memory(siblings):
    clf = DocClassifier(register=None, warn=lambda m: None, header=HeaderCheck(margin=1.0))
    page = Image.open(siblings / "invoice_20.png").convert("RGB")
    clf.register("plain", page)  # a picture, not kept: its header is embedded at once
    clf.register("other", reheaded(page))
    assert len(clf._headers[clf.header.strip]) == 2
    assert clf.classify(photo_of(reheaded(page), seed=4))[0] == "other"
    clf.unregister("other")
    assert len(clf._headers[clf.header.strip]) == 1


def test_register_cache_keeps_the_header_strips(siblings, tmp_path, monkeypatch):
    register = shutil.copytree(siblings, tmp_path / "register")
    files = sorted(p.name for p in register.glob("*.png"))
    first = DocClassifier(register=register, warn=lambda m: None)  # the strips embedded at load
    strips = first._headers[0.35]
    assert sorted(strips) == files and all(v is not None for v in strips.values())
    with np.load(register / infer.CACHE_NAME) as z:
        assert json.loads(str(z["meta"]))["header_strip"] == 0.35 and len(z["header_embeddings"]) == len(files)

    embedded = []
    original = DocClassifier.embed_arrays
    monkeypatch.setattr(DocClassifier, "embed_arrays", lambda self, a: embedded.append(len(a)) or original(self, a))
    again = DocClassifier(register=register, warn=lambda m: None)
    assert embedded == [0]  # neither the pages nor their strips are embedded again
    for name in files:
        np.testing.assert_allclose(again._headers[0.35][name], strips[name], atol=1e-6)
    photos, _ = photos_of(siblings)
    fresh = DocClassifier(register=register, cache=False, warn=lambda m: None)
    cached_matches = again.match(again.embed(photos), k=3, images=photos)
    fresh_matches = fresh.match(fresh.embed(photos), k=3, images=photos)
    assert [m.label for m in cached_matches] == [m.label for m in fresh_matches]
    assert any(m.header is not None for m in cached_matches)

    # Another strip share: those strips are embedded at load and the cache holds them instead.
    embedded.clear()
    DocClassifier(register=register, header=HeaderCheck(strip=0.25), warn=lambda m: None)
    assert embedded == [0, len(files)]
    with np.load(register / infer.CACHE_NAME) as z:
        assert json.loads(str(z["meta"]))["header_strip"] == 0.25
    # With the check off, a change to the register rewrites the cache with the strips it held.
    Image.open(register / "form_9.png").rotate(180).save(register / "form_9_upside_down.png")
    off = DocClassifier(register=register, header=False, warn=lambda m: None)
    assert off.header is None
    with np.load(register / infer.CACHE_NAME) as z:
        meta = json.loads(str(z["meta"]))
        assert meta["header_strip"] == 0.25 and len(z["header_embeddings"]) == len(files)
        rows = dict(zip([f["path"] for f in meta["files"]], z["header_rows"].tolist(), strict=True))
        assert rows["form_9_upside_down.png"] == -1


def test_bad_settings_are_refused():
    for bad in (dict(strip=0.05), dict(weight=2.0), dict(k=1), dict(margin=-0.1)):
        with pytest.raises(infer.InferError, match="header check"):
            HeaderCheck(**bad)


def test_eval_scores_what_infer_decides(siblings, tmp_path):
    """eval.py's header check on the score matrix (then the palette's) gives infer.py's answers."""
    import eval as evaluate

    data = tmp_path / "set"
    shutil.copytree(siblings, data / "register")
    photos, truth = photos_of(siblings)
    for i, (photo, label) in enumerate(zip(photos, truth, strict=True)):
        (data / "queries" / label).mkdir(parents=True, exist_ok=True)
        photo.save(data / "queries" / label / f"{i}.jpg", quality=90)
    check = HeaderCheck(margin=1.0)
    embedder = evaluate.onnx_embedder(str(infer.DEFAULT_MODEL))
    scored = evaluate.score_eval_set(embedder, data, palette=infer.PaletteCheck(), header=check)
    types = evaluate.load_eval_set(data, print)[0]
    clf = DocClassifier(register=data / "register", cache=False, header=check, warn=lambda m: None)
    paths = sorted((data / "queries").rglob("*.jpg"))
    for row, m in zip(scored.scores, clf.match(clf.embed(paths), k=3, images=paths), strict=True):
        best = np.argsort(-row, kind="stable")[:3]  # the list as well as the answer: the runner-up decides close calls
        assert [types[int(j)] for j in best] == [label for label, _ in m.top]
        assert row[best] == pytest.approx([score for _, score in m.top], abs=1e-5)


@pytest.mark.slow
def test_cli_reports_the_header_check_and_can_turn_it_off(siblings, tmp_path):
    photo_of(reheaded(Image.open(siblings / "form_9.png")), seed=2).save(tmp_path / "q.jpg", quality=90)
    run = [sys.executable, "infer.py", str(tmp_path / "q.jpg"), "--register", str(siblings), "--json"]
    on = json.loads(subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    off = json.loads(
        subprocess.run([*run, "--no-header-check"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    )
    assert on["header"] == {"margin": 0.1, "k": 5, "weight": 0.75, "strip": 0.35} and "header" not in off
    assert on["results"][0]["top_k"][0]["label"] == "form_9_reheaded"
    assert "header" not in off["results"][0]


def test_a_photo_is_decoded_once_for_the_embedding_and_both_checks(siblings, tmp_path, monkeypatch):
    """A page-sized photo is read once (at the model's decode size): the header and palette checks
    read that picture instead of decoding the file again. The CLI answers as the Python API does."""
    page = photo_of(reheaded(Image.open(siblings / "form_9.png")), seed=3)
    big = tmp_path / "big.jpg"
    page.resize((2 * page.width, 2 * page.height), Image.BICUBIC).save(big, quality=90)
    clf = DocClassifier(register=siblings, header=HeaderCheck(margin=1.0), cache=False, warn=lambda m: None)
    clf.palette = infer.PaletteCheck(margin=1.0)
    opened = []
    original = infer.open_image
    monkeypatch.setattr(infer, "open_image", lambda image, *a, **kw: opened.append(image) or original(image, *a, **kw))
    match = clf.match_images([big], 3)[0]
    assert match.header["ran"] and match.palette["ran"]
    assert [o for o in opened if o == big] == [big]  # the photo's file, once (the register's examples aside)
    assert match.top[0][0] == "form_9_reheaded"
    monkeypatch.undo()
    assert clf.top_k(big, 3) == match.top
    run = [sys.executable, "infer.py", str(big), "--register", str(siblings), "--json", "--top-k", "3"]
    cli = json.loads(subprocess.run(run, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    default = DocClassifier(register=siblings, cache=False, warn=lambda m: None)
    expected = [{"label": lb, "score": round(sc, 6)} for lb, sc in default.top_k(big, 3)]
    assert cli["results"][0]["top_k"] == expected


@pytest.mark.slow
def test_bench_header_check_replays_the_live_check(tmp_path):
    """bench/header_check.py's replay of infer.py's formula gives the live check's first choices."""
    from data.samples import write_eval_set

    write_eval_set(tmp_path / "set", num_types=4, photos_per_type=2, unknown_types=1, long_side=256)
    out = tmp_path / "hc.json"
    cmd = [sys.executable, "bench/header_check.py", "--data", tmp_path / "set", "--out", out]
    cmd += ["--strips", "0.35", "--margins", "0.1,1", "--weights", "0.75"]
    proc = subprocess.run(list(map(str, cmd)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert [r["setting"] for r in doc["sweep"]][0] == "no header check" and len(doc["sweep"]) == 3
    assert doc["sweep"][2]["triggered"] == 1.0  # margin 1: every query
    assert doc["ms_per_query"]["live_agrees_with_replay"] == 1.0
    assert doc["ms_per_query"]["on"] > 0 and "TPR@1e-3" in proc.stdout
