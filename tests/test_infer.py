"""infer.py: no torch, the same preprocessing as training, the register and its cache, the CLI."""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

import infer
from conftest import ROOT
from data import SyntheticDocuments, eval_transform

pytestmark = pytest.mark.slow


def _docs(n=4, seed=99):
    return SyntheticDocuments(n, 2, seed=seed, long_side=160)


@pytest.fixture()
def register(tmp_path):
    docs = _docs()
    folder = tmp_path / "register"
    folder.mkdir()
    for c in range(3):
        docs.load(2 * c)[0].save(folder / f"type{c}.png")
    return folder


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "infer.py"), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_infer_does_not_import_torch(tiny_export, register):
    _, model = tiny_export
    code = (
        "import sys, infer\n"
        f"clf = infer.DocClassifier({str(model)!r}, {str(register)!r})\n"
        f"print(clf.classify({str(register / 'type0.png')!r}))\n"
        "bad = [m for m in ('torch', 'torchvision', 'timm') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("letterbox", [False, True])
def test_preprocessing_matches_training_eval_transform(tmp_path, letterbox):
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    ref = eval_transform(96, mean, std, letterbox=letterbox)
    m, s = np.array(mean, np.float32).reshape(3, 1, 1), np.array(std, np.float32).reshape(3, 1, 1)
    ours = infer.Preprocess(96, m, s, letterbox=letterbox)
    rng = np.random.default_rng(0)
    images = [_docs().load(i)[0] for i in range(3)]
    images.append(Image.fromarray(rng.integers(0, 256, (301, 517, 3), dtype=np.uint8)))  # odd size, noise
    images.append(Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)))  # upscaling
    for image in images:
        np.testing.assert_allclose(ours(image), ref(image).numpy(), rtol=0, atol=1e-6)


def test_letterbox_keeps_the_aspect_on_the_border_colour():
    from data.transforms import pad_to_square

    page = Image.new("RGB", (60, 100), (250, 245, 235))  # portrait paper
    page.paste((10, 10, 10), (10, 10, 50, 20))  # a line of ink
    for pad in (pad_to_square, infer.pad_to_square):
        square = pad(page)
        a = np.asarray(square)
        assert square.size == (100, 100)
        assert (a[:, :20] == (250, 245, 235)).all() and (a[:, 80:] == (250, 245, 235)).all()  # paper-coloured sides
        assert (a[10:20, 30:70] == (10, 10, 10)).all()  # the page itself, centred
        assert pad(square) is square  # already square: untouched


def test_embeddings_match_pytorch_end_to_end(tiny_export, register):
    from configs import config_from_dict
    from engine.checkpoint import load_checkpoint
    from models import build_model

    ckpt_path, model_path = tiny_export
    ckpt = load_checkpoint(ckpt_path)
    cfg = config_from_dict(ckpt["config"])
    net = build_model(cfg.model, cfg.data.image_size, ckpt["num_classes"])
    net.load_state_dict(ckpt["model"])
    image = Image.open(register / "type1.png")
    with torch.no_grad():
        expected = net.embedding_model().eval()(
            eval_transform(64, cfg.data.mean, cfg.data.std)(image.convert("RGB"))[None]
        )
    got = infer.DocClassifier(model_path, register=None).embed(image)
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_a_letterboxed_model_trains_exports_and_embeds_as_pytorch(tmp_path):
    import export_onnx
    from conftest import TINY
    from eval import checkpoint_embedder
    from train import run

    result = run(
        [
            "--cfg",
            "tiny_cpu",
            *TINY,
            "--train.epochs",
            "1",
            "--data.letterbox",
            "true",
            "--run-dir",
            str(tmp_path / "run"),
        ]
    )
    onnx_path = tmp_path / "lb.onnx"
    assert (
        export_onnx.main(
            ["--ckpt", str(result.run_dir), "--out", str(onnx_path), "--threshold", "0.9", "--policy-types", "0"]
        )
        == 0
    )
    clf = infer.DocClassifier(onnx_path, register=None)
    assert clf.model.meta["letterbox"] == "1" and clf.model.preprocess.letterbox
    card = _docs().load(0)[0].resize((160, 100))  # landscape: padded top and bottom
    expected = checkpoint_embedder(str(result.run_dir)).embed([card])
    np.testing.assert_allclose(clf.embed(card), expected, atol=1e-4)


def test_api_register_unregister_topk(tiny_export, register):
    _, model = tiny_export
    clf = infer.DocClassifier(model, register, threshold=0.0)
    assert clf.labels == ["type0", "type1", "type2"]
    label, score = clf.classify(register / "type2.png")
    assert label == "type2" and score == pytest.approx(1.0, abs=1e-5)  # its own image: cos = 1
    top = clf.top_k(register / "type2.png", k=5)
    assert len(top) == 3 and top[0][0] == "type2" and [s for _, s in top] == sorted((s for _, s in top), reverse=True)
    assert [lb for lb, _ in clf.classify_batch([register / "type0.png", register / "type1.png"])] == ["type0", "type1"]
    extra = _docs().load(6)[0]
    clf.register("extra", extra)
    assert clf.classify(extra)[0] == "extra"
    clf.unregister("extra")
    assert "extra" not in clf.labels and clf.classify(extra)[0] != "extra"
    with pytest.raises(KeyError):
        clf.unregister("never")
    with pytest.raises(KeyError):
        clf.unregister("extra")  # already gone
    clf.register("extra", extra)  # back again, under the label it had
    assert clf.classify(extra)[0] == "extra" and clf.labels == ["extra", "type0", "type1", "type2"]
    strict = infer.DocClassifier(model, register, threshold=1.0)  # only an exact copy can reach it
    assert strict.classify(_docs().load(1)[0])[0] is None  # another instance of type0's template
    with pytest.raises(infer.InferError, match=r"threshold must be in \[0, 1\], got 1.01"):
        infer.DocClassifier(model, register, threshold=1.01)  # scores live in [0, 1]


def test_large_jpeg_is_decoded_at_reduced_scale_with_the_same_embedding(tiny_export, tmp_path):
    _, model = tiny_export
    clf = infer.DocClassifier(model, register=None)
    assert clf.model.decode_size == 2 * 64
    photo = _docs().load(0)[0].resize((1000, 1400), Image.BICUBIC)
    photo.save(tmp_path / "photo.jpg", quality=92)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    photo.save(tmp_path / "rotated.jpg", quality=92, exif=exif)
    assert infer.open_image(tmp_path / "photo.jpg").size == (1000, 1400)
    assert infer.open_image(tmp_path / "photo.jpg", 128).size == (250, 350)  # 1/4: both sides stay ≥ 128
    assert infer.open_image(tmp_path / "rotated.jpg", 128).size == (350, 250)  # EXIF still honoured
    assert infer.open_image(tmp_path / "photo.jpg", 800).size == (1000, 1400)  # 1/2 would go below 800
    full = clf.embed(infer.open_image(tmp_path / "photo.jpg"))  # a PIL image: used as it is
    reduced = clf.embed(tmp_path / "photo.jpg")  # a path: decoded at the reduced scale
    assert float((full * reduced).sum()) > 0.999
    png = tmp_path / "photo.png"
    photo.save(png)
    assert infer.open_image(png, 128).size == (1000, 1400)  # only JPEG decoding scales


def test_read_ahead_keeps_order_reports_errors_in_place_and_stays_bounded():
    started = []

    def load(i):
        started.append(i)
        if i % 7 == 3:
            raise infer.InferError(f"item {i}: unreadable")
        time.sleep(0.001)
        return 10 * i

    for workers in (1, 2, 4):
        started.clear()
        out = []
        for k, result in enumerate(infer.read_ahead(range(60), load, workers=workers, ahead=8)):
            assert len(started) <= k + 1 + 8  # never more than `ahead` items past the consumer
            out.append(str(result) if isinstance(result, infer.InferError) else result)
        assert out == [f"item {i}: unreadable" if i % 7 == 3 else 10 * i for i in range(60)]


def test_a_folder_of_files_is_read_on_threads_with_the_same_results(tiny_export, register, tmp_path):
    _, model = tiny_export
    files = sorted(register.glob("*.png")) * 5
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    one = infer.DocClassifier(model, register, read_threads=1)
    many = infer.DocClassifier(model, register, read_threads=3, batch_size=4)
    np.testing.assert_array_equal(one.embed(files), many.embed(files))
    with pytest.raises(infer.InferError, match="broken.jpg: not an image file"):
        many.embed([*files, tmp_path / "broken.jpg"])


def test_top_indices_equal_a_stable_full_sort_ties_included():
    rng = np.random.default_rng(0)
    for n, k in [(1, 1), (5, 1), (5, 3), (5, 5), (5, 9), (1000, 1), (1000, 7), (1000, 1000)]:
        for row in (rng.standard_normal(n), rng.integers(0, 4, n).astype(np.float32)):  # the second: many ties
            expected = np.argsort(-row, kind="stable")[:k]
            assert infer.top_indices(row, k).tolist() == expected.tolist(), (n, k, row)


def test_bank_added_in_bulk_with_float16_matches_float32_and_sees_every_example(tiny_export):
    _, model = tiny_export
    rng = np.random.default_rng(1)
    bank = rng.standard_normal((9000, 64)).astype(np.float32)  # more rows than one float16 block
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    labels = [f"t{i % 7000}" for i in range(9000)]  # types 0..1999 have two examples, far apart in the bank
    queries = bank[[0, 1, 7000, 8999]] + 0.05 * rng.standard_normal((4, 64)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    results = {}
    for dtype in ("float32", "float16"):
        clf = infer.DocClassifier(model, register=None, threshold=0.0, bank_dtype=dtype)
        clf.add_embeddings(labels[:5000], bank[:5000])
        clf.add_embeddings(labels[5000:], bank[5000:])
        assert len(clf.labels) == 7000
        results[dtype] = clf.match(queries, k=3)
    cos = queries @ bank.T
    for q, (m32, m16) in enumerate(zip(results["float32"], results["float16"], strict=True)):
        best = {}
        for j, lb in enumerate(labels):
            best[lb] = max(best.get(lb, -2.0), cos[q, j])
        expected = sorted(best, key=lambda lb: -best[lb])[:3]
        assert [lb for lb, _ in m32.top] == expected
        assert m32.top[0][1] == pytest.approx((best[expected[0]] + 1) / 2, abs=1e-5)
        assert [lb for lb, _ in m16.top][0] == expected[0]
        assert np.allclose([s for _, s in m16.top], [s for _, s in m32.top], atol=1e-3)
    assert [m.label for m in results["float32"]] == ["t0", "t1", "t0", "t1999"]  # 7000 is t0's second example
    with pytest.raises(ValueError, match="expected 2 × 64 embeddings"):
        clf.add_embeddings(["a", "b"], bank[:3])
    with pytest.raises(infer.InferError, match="bank_dtype"):
        infer.DocClassifier(model, register=None, bank_dtype="int8")


def test_subfolder_is_one_type_scored_by_its_best_example(tiny_export, register):
    _, model = tiny_export
    docs = _docs()
    sub = register / "multi"
    sub.mkdir()
    docs.load(6)[0].save(sub / "a.png")
    nested = sub / "more"
    nested.mkdir()
    docs.load(7)[0].save(nested / "b.png")
    clf = infer.DocClassifier(model, register, threshold=0.0)
    assert clf.labels == ["multi", "type0", "type1", "type2"]
    assert clf.classify(nested / "b.png") == ("multi", pytest.approx(1.0, abs=1e-5))


def test_duplicate_labels_are_warned_and_pooled(tiny_export, register):
    _, model = tiny_export
    Image.open(register / "type1.png").save(register / "type0.jpg")
    warnings = []
    clf = infer.DocClassifier(model, register, warn=warnings.append)
    assert clf.labels == ["type0", "type1", "type2"]
    assert any("label 'type0' comes from type0.jpg, type0.png" in w for w in warnings)


def test_register_cache_is_reused_and_rebuilt_only_for_changes(tiny_export, register, monkeypatch):
    _, model = tiny_export
    embedded = []
    original = infer.DocClassifier.embed_arrays

    def counting(self, arrays):
        embedded.append(len(arrays))
        return original(self, arrays)

    monkeypatch.setattr(infer.DocClassifier, "embed_arrays", counting)
    first = infer.DocClassifier(model, register)
    # The three images, then their header strips (the header check's side, kept in the cache too).
    assert (register / infer.CACHE_NAME).is_file() and embedded == [3, 3]
    umask = os.umask(0)
    os.umask(umask)
    assert (register / infer.CACHE_NAME).stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    embedded.clear()
    infer.DocClassifier(model, register)
    assert embedded == [0]  # everything from the cache

    # Same content, new mtime: the hash says unchanged, nothing re-embedded.
    os.utime(register / "type0.png", ns=(1, 1))
    infer.DocClassifier(model, register)
    assert embedded[-1] == 0
    # New content in one file: only that one is embedded again, and its embedding changes.
    _docs().load(7)[0].save(register / "type1.png")
    embedded.clear()
    changed = infer.DocClassifier(model, register)
    assert embedded == [1, 1]
    assert changed.classify(register / "type1.png") == ("type1", pytest.approx(1.0, abs=1e-5))
    assert not np.allclose(changed.embed(register / "type1.png"), first.embed(_docs().load(2)[0]))
    # A removed file leaves the register; a different model rebuilds everything.
    (register / "type2.png").unlink()
    assert infer.DocClassifier(model, register).labels == ["type0", "type1"]
    import onnx

    proto = onnx.load(str(model))
    proto.metadata_props.add(key="note", value="another file, another fingerprint")
    other = register.parent / "other.onnx"
    onnx.save(proto, str(other))
    embedded.clear()
    infer.DocClassifier(other, register)
    assert embedded == [2, 2]


def test_cli_plain_and_json(tiny_export, register, tmp_path):
    _, model = tiny_export
    queries = tmp_path / "q"
    (queries / "deep").mkdir(parents=True)
    shutil.copy(register / "type0.png", queries / "a.png")
    shutil.copy(register / "type1.png", queries / "deep" / "b.png")
    proc = _cli(queries, "--model", model, "--register", register, "--threshold", "0.5", "--top-k", "2")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{queries / 'a.png'}: type0  1.000")
    proc = _cli(queries / "a.png", "--model", model, "--register", register, "--json", "--top-k", "3")
    doc = json.loads(proc.stdout)
    (r,) = doc["results"]
    assert r["label"] == "type0" and len(r["top_k"]) == 3 and r["ms"] > 0 and doc["threshold"] == 0.9


def test_cli_per_file_errors_do_not_stop_the_batch(tiny_export, register, tmp_path):
    _, model = tiny_export
    good = register / "type0.png"
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good.read_bytes()[:200])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    missing = tmp_path / "missing.png"
    proc = _cli(good, text, truncated, empty, missing, good, "--model", model, "--register", register, "--json")
    assert proc.returncode == 1
    results = json.loads(proc.stdout)["results"]
    assert [r.get("label") for r in results] == ["type0", None, None, None, None, "type0"]
    errors = {r["path"]: r["error"] for r in results if "error" in r}
    assert errors[str(text)].endswith("not an image file")
    assert "unreadable image" in errors[str(truncated)]
    assert errors[str(missing)].endswith("no such file")
    assert "Traceback" not in proc.stderr
    plain = _cli(text, good, "--model", model, "--register", register)
    assert plain.returncode == 1
    assert plain.stderr.strip() == f"error: {text}: not an image file"


@pytest.mark.parametrize("case", ["missing_model", "not_onnx", "not_embedding", "empty_register", "no_register"])
def test_fatal_errors_are_one_line_and_exit_2(case, tiny_export, register, tmp_path):
    import onnx
    from onnx import TensorProto, helper

    _, model = tiny_export
    args = {"--model": model, "--register": register}
    if case == "missing_model":
        args["--model"] = tmp_path / "none.onnx"
        expected = f"{tmp_path / 'none.onnx'}: model file not found"
    elif case == "not_onnx":
        bad = tmp_path / "bad.onnx"
        bad.write_text("hello")
        args["--model"], expected = bad, f"{bad}: not a valid ONNX model"
    elif case == "not_embedding":
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        )
        other = tmp_path / "identity.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(other))
        args["--model"], expected = other, f"{other}: not a DocClassifier embedding model"
    elif case == "empty_register":
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "readme.txt").write_text("no images here")
        args["--register"], expected = empty, f"{empty}: register holds no readable images"
    else:
        args["--register"], expected = tmp_path / "nowhere", f"{tmp_path / 'nowhere'}: register folder not found"
    proc = _cli(register / "type0.png", *[x for kv in args.items() for x in kv])
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"infer.py: error: {expected}")
