"""infer.py's second look: close calls re-ranked by ORB keypoints and a homography (real OpenCV, real
ONNX Runtime), off by default and then exactly today's path; its keypoints in the register cache."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import infer
from conftest import ROOT
from data import SyntheticDocuments
from data.photo import photo_of

pytestmark = pytest.mark.slow

# Makes cv2 unimportable in a child interpreter: a meta-path finder that refuses it.
NO_CV2 = (
    "import sys\n"
    "class NoCv2:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'cv2' or name.startswith('cv2.'):\n"
    "            raise ImportError('No module named cv2 (hidden by the test)')\n"
    "sys.meta_path.insert(0, NoCv2())\n"
)


def _docs():
    return SyntheticDocuments(6, 3, seed=99, long_side=384, fonts="builtin")


@pytest.fixture()
def register(tmp_path):
    """Three types (clean instance 0 of classes 0, 1, 2) and a photo of another instance of type1."""
    docs = _docs()
    folder = tmp_path / "register"
    folder.mkdir()
    for c in range(3):
        docs.load(3 * c)[0].save(folder / f"type{c}.png")
    photo_of(docs.load(3 * 1 + 1)[0], seed=5).save(tmp_path / "photo.jpg", quality=90)
    return folder


def _cli(*args, code_before: str = ""):
    cmd = [sys.executable, str(ROOT / "infer.py"), *map(str, args)]
    if code_before:
        run = (
            f"{code_before}import sys, runpy\nsys.argv = {cmd[1:]!r}\nrunpy.run_path({cmd[1]!r}, run_name='__main__')\n"
        )
        cmd = [sys.executable, "-c", run]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_off_by_default_and_then_todays_results(tiny_export, register, tmp_path):
    _, model = tiny_export
    photo = tmp_path / "photo.jpg"
    clf = infer.DocClassifier(model, register, threshold=0.0, palette=False, header=False)  # the embedding alone
    assert clf.second_look is None
    (m,) = clf.match(clf.embed(photo), k=3, images=[photo])
    assert m.second_look is None  # off: nothing looked at, nothing added
    e, bank = clf.embed(photo)[0], clf.embed(sorted(register.glob("*.png")))
    expected = sorted(((f"type{i}", float((e @ b + 1) / 2)) for i, b in enumerate(bank)), key=lambda t: -t[1])
    assert [lb for lb, _ in m.top] == [lb for lb, _ in expected]
    assert np.allclose([s for _, s in m.top], [s for _, s in expected], atol=1e-6)
    # On, with a margin nothing reaches: the same answer, and each match says the look did not run.
    clf.second_look = infer.SecondLook(margin=0.0)
    (same,) = clf.match(clf.embed(photo), k=3, images=[photo])
    assert same.top == m.top and same.second_look["ran"] is False
    # The command line without the flag: today's JSON, no second-look fields anywhere.
    proc = _cli(
        photo, "--model", model, "--register", register, "--json", "--top-k", "3", "--no-palette", "--no-header-check"
    )
    doc = json.loads(proc.stdout)
    assert "second_look" not in doc and "second_look" not in doc["results"][0]
    assert doc["score"] == "(cos+1)/2"
    assert set(doc["results"][0]) == {"path", "label", "score", "ambiguous", "top_k", "ms"}
    assert [t["label"] for t in doc["results"][0]["top_k"]] == [lb for lb, _ in expected]


def test_geometry_overturns_a_look_alike_the_embedding_preferred(tiny_export, tmp_path):
    """Two register images of one design, the second with its layout mirrored (same ink, same
    colours, another layout). The query is a photo of the first; its embedding is set a hair closer
    to the mirrored one, as a look-alike's would be. The keypoints, computed for real from the
    images, put the right one back on top."""
    _, model = tiny_export
    docs = _docs()
    folder = tmp_path / "register"
    folder.mkdir()
    page = docs.load(0)[0]
    page.save(folder / "right.png")
    page.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "mirrored.png")
    docs.load(6)[0].save(folder / "other.png")
    photo = tmp_path / "photo.jpg"
    photo_of(docs.load(1)[0], seed=3).save(photo, quality=90)  # another instance of the design

    clf = infer.DocClassifier(model, folder, threshold=0.0, header=False)  # the keypoints alone decide
    right, mirrored = clf.embed([folder / "right.png", folder / "mirrored.png"])
    query = 0.48 * right + 0.52 * mirrored
    query /= np.linalg.norm(query)
    (plain,) = clf.match(query[None], k=3, images=[photo])
    assert plain.top[0][0] == "mirrored"  # the embedding's first choice is wrong
    clf.second_look = infer.SecondLook(margin=0.1, k=3, weight=0.9)
    (looked,) = clf.match(query[None], k=3, images=[photo])
    assert looked.top[0][0] == "right" and looked.label == "right"
    found = looked.second_look
    assert found["ran"] and found["gap"] == pytest.approx(plain.top[0][1] - plain.top[1][1])
    by_label = {c["label"]: c for c in found["candidates"]}
    assert by_label["right"]["inliers"] >= 2 * max(by_label["mirrored"]["inliers"], clf.second_look.min_inliers)
    assert by_label["right"]["evidence"] > by_label["mirrored"]["evidence"]
    assert by_label["mirrored"]["embedding_rank"] == 1 and by_label["right"]["embedding_rank"] == 2
    best = max(c["inliers"] for c in found["candidates"])
    for c in found["candidates"]:  # the documented formulas, and never below the embedding's score
        assert c["evidence"] == pytest.approx(min(1, max(0, (c["inliers"] - 15) / (max(50, best) - 15))))
        assert c["score"] == pytest.approx(1 - (1 - c["embedding_score"]) * (1 - 0.9 * c["evidence"]))
        assert c["embedding_score"] <= c["score"] <= 1.0
    assert [lb for lb, _ in looked.top] == [c["label"] for c in found["candidates"]]
    assert [s for _, s in looked.top] == sorted((s for _, s in looked.top), reverse=True)
    # Deterministic: the same inliers again.
    assert clf.match(query[None], k=3, images=[photo])[0].second_look["candidates"] == found["candidates"]


def test_cli_json_says_whether_it_ran_and_what_it_found(tiny_export, register, tmp_path):
    _, model = tiny_export
    photo = tmp_path / "photo.jpg"
    args = [photo, register / "type2.png", "--model", model, "--register", register, "--threshold", "0"]
    proc = _cli(*args, "--json", "--top-k", "2", "--second-look", "--second-look-margin", "1", "--second-look-k", "3")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["second_look"]["margin"] == 1.0 and doc["second_look"]["k"] == 3 and "1-(1-s)" in doc["score"]
    for r in doc["results"]:
        found = r["second_look"]
        assert found["ran"] is True and found["query_keypoints"] > 0 and found["ms"] > 0
        assert len(found["candidates"]) == 3 and len(r["top_k"]) == 2
        keys = {"label", "embedding_rank", "embedding_score", "examples", "matches", "inliers", "evidence", "score"}
        assert all(set(c) == keys for c in found["candidates"])
        assert [t["label"] for t in r["top_k"]] == [c["label"] for c in found["candidates"][:2]]
        assert r["score"] == found["candidates"][0]["score"] == r["top_k"][0]["score"]
    assert doc["results"][0]["label"] == "type1" and doc["results"][1]["label"] == "type2"
    assert doc["results"][1]["second_look"]["candidates"][0]["inliers"] > 100  # its own register image
    # A margin no pair reaches: it does not run, and says so.
    proc = _cli(*args, "--json", "--second-look", "--second-look-margin", "0")
    for r in json.loads(proc.stdout)["results"]:
        assert r["second_look"]["ran"] is False and r["second_look"]["gap"] > 0
    plain = _cli(*args, "--second-look", "--second-look-margin", "1")
    assert plain.returncode == 0 and all(line.endswith("(second look)") for line in plain.stdout.splitlines())
    bad = _cli(*args, "--second-look", "--second-look-k", "9")
    assert bad.returncode == 2 and bad.stderr.strip() == "infer.py: error: second look: k must be 2 to 5, not 9"
    orphan = _cli(*args, "--second-look-margin", "0.2")  # a second-look setting without the second look
    assert orphan.returncode == 2 and "need --second-look" in orphan.stderr


def test_register_cache_keeps_keypoints_and_invalidates_them(tiny_export, register, monkeypatch):
    _, model = tiny_export
    described = []
    original = infer.Keypoints.describe

    def counting(self, image):
        described.append(image)
        return original(self, image)

    monkeypatch.setattr(infer.Keypoints, "describe", counting)
    cache = register / infer.CACHE_NAME
    infer.DocClassifier(model, register)  # second look off: no keypoints computed or stored
    with np.load(cache, allow_pickle=False) as z:
        assert "keypoint_counts" not in z.files and "keypoints" not in json.loads(str(z["meta"]))
    assert described == []

    first = infer.DocClassifier(model, register, second_look=True)
    assert len(described) == 3
    with np.load(cache, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        counts = z["keypoint_counts"]
        assert meta["keypoints"]["method"] == "orb" and meta["keypoints"]["long_side"] == 512
        assert counts.tolist() == [len(first._keypoints[f"type{i}.png"][0]) for i in range(3)]
        assert min(counts) > 100 and z["keypoint_xy"].shape == (counts.sum(), 2)
        assert z["keypoint_descriptors"].shape == (counts.sum(), 32)
        stored = z["keypoint_descriptors"][: counts[0]]
    np.testing.assert_array_equal(stored, first._keypoints["type0.png"][1])

    described.clear()
    again = infer.DocClassifier(model, register, second_look=True)
    assert described == []  # all from the cache
    np.testing.assert_array_equal(again._keypoints["type1.png"][0], first._keypoints["type1.png"][0])

    # A run without the second look rewrites the cache (a file changed) and keeps the others' keypoints.
    _docs().load(12)[0].save(register / "type2.png")
    infer.DocClassifier(model, register)
    with np.load(cache, allow_pickle=False) as z:
        assert z["keypoint_counts"].tolist()[:2] == counts.tolist()[:2] and z["keypoint_counts"][2] == -1
    described.clear()
    infer.DocClassifier(model, register, second_look=True)
    assert [p.name for p in described] == ["type2.png"]  # only the changed file

    # Other keypoint settings, or another model: described again.
    described.clear()
    infer.DocClassifier(model, register, second_look=infer.SecondLook(long_side=384))
    assert len(described) == 3
    import onnx

    proto = onnx.load(str(model))
    proto.metadata_props.add(key="note", value="another file, another fingerprint")
    other = register.parent / "other.onnx"
    onnx.save(proto, str(other))
    described.clear()
    clf = infer.DocClassifier(other, register)
    clf.second_look = True  # turned on later: the register is described then, and cached
    assert len(described) == 3
    with np.load(cache, allow_pickle=False) as z:
        assert (z["keypoint_counts"] > 0).all()
    # Images registered in memory get keypoints too; bare embeddings have none (no evidence, no error).
    clf.register("extra", register / "type0.png")
    assert len(described) == 4
    clf.register("picture", Image.open(register / "type2.png"))  # described now, the picture not kept
    assert len(described) == 5 and list(clf._memory_images.values()) == [register / "type0.png"]
    clf.add_embeddings(["bare"], clf.embed(register / "type1.png"))
    clf.second_look = infer.SecondLook(margin=1.0)
    (m,) = clf.match(clf.embed(register / "type1.png"), k=5, images=[register / "type1.png"])
    by_label = {c["label"]: c for c in m.second_look["candidates"]}
    assert by_label["bare"]["examples"] == 0 and by_label["bare"]["inliers"] == 0
    assert m.label == "type1"


def test_missing_opencv_is_one_line_and_the_default_path_never_imports_it(tiny_export, register, tmp_path):
    _, model = tiny_export
    photo = tmp_path / "photo.jpg"
    args = [photo, "--model", model, "--register", register]
    proc = _cli(*args, "--second-look", code_before=NO_CV2)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "infer.py: error: the second look needs OpenCV, which is not installed (pip install opencv-python-headless)"
    )
    proc = _cli(*args, code_before=NO_CV2)  # no second look: no OpenCV needed
    assert proc.returncode == 0 and proc.stdout.startswith(f"{photo}: "), proc.stderr
    code = (
        "import sys, infer\n"
        f"clf = infer.DocClassifier({str(model)!r}, {str(register)!r})\n"
        f"clf.classify({str(photo)!r})\n"
        "assert 'cv2' not in sys.modules\n"
        "try:\n"
        "    clf.second_look = True\n"
        "except infer.InferError as e:\n"
        "    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", NO_CV2 + code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("the second look needs OpenCV")


@pytest.mark.reliability
def test_odd_and_broken_inputs_with_the_second_look(tmp_path):
    """The bad-input corpus through the second look on every query: the same errors, the rest
    classified (a 1-pixel image, a 2000×1 strip, 16-bit, CMYK ... have few or no keypoints)."""
    from test_bad_input import MODEL, REGISTER, make_corpus

    folder = tmp_path / "inbox"
    expect = make_corpus(folder)
    cmd = [folder, "--json", "--model", MODEL, "--register", REGISTER, "--second-look", "--second-look-margin", "1"]
    proc = _cli(*cmd)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    results = {r["path"].rsplit("/", 1)[1]: r for r in json.loads(proc.stdout)["results"]}
    for name, reason in expect.items():
        r = results[name]
        if reason is None:
            assert r["second_look"]["ran"] and 0 <= r["score"] <= 1, (name, r)
        else:
            assert reason in r["error"] and "second_look" not in r
    assert results["good.jpg"]["label"] == "form_9"


@pytest.mark.parametrize("checks", [True, False])
def test_bench_second_look_runs_and_replays_the_live_look(tmp_path, checks):
    """The replay starts from the ranking the second look sees live: the header and palette checks'
    (infer.py's default) or, with both off, the embedding's."""
    from data.samples import write_eval_set

    write_eval_set(tmp_path / "set", num_types=4, photos_per_type=1, unknown_types=1, long_side=256)
    out = tmp_path / "sl.json"
    cmd = [sys.executable, "bench/second_look.py", "--data", tmp_path / "set", "--out", out]
    cmd += ["--margins", "0.05,1", "--weights", "0.9", "--inliers", "15-50"]
    cmd += [] if checks else ["--no-palette", "--no-header-check"]
    proc = subprocess.run(list(map(str, cmd)), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    first = "embedding + header check + palette check" if checks else "embedding"
    assert [r["setting"] for r in doc["sweep"]][0] == first and len(doc["sweep"]) == 3
    assert doc["palette"] is checks and doc["header_check"] is checks
    assert doc["sweep"][2]["triggered"] == 1.0  # margin 1: every query
    assert doc["live_agrees_with_replay"] == 1.0
    assert doc["ms_per_query"]["on"]["mean_ms"] > 0 and doc["ms_per_query"]["off"]["mean_ms"] > 0
    assert "second look off" in proc.stdout and "TPR@1e-3" in proc.stdout
