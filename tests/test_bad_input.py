"""Bad input, for real: a corpus of broken and unusual image files, registers and models (all made
here), run through infer.py's CLI and API. Every problem is one line naming the file and the reason,
a batch never stops at a bad file, and no user error prints a traceback (``--debug`` shows one)."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import infer
from conftest import ROOT, run_scripts

pytestmark = pytest.mark.reliability

MODEL = ROOT / "assets" / "model.onnx"
REGISTER = ROOT / "register"
PHOTO = ROOT / "examples" / "photo_of_form_9.jpg"


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "infer.py"), *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _png_with_size(path: Path, width: int, height: int) -> None:
    """A small PNG whose header claims width × height (a decompression bomb, without the memory)."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = bytes(data[12:16]) + struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(ihdr) & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def make_corpus(folder: Path) -> dict[str, str | None]:
    """name -> the reason expected in its error line, or None for files that must classify."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(PHOTO).convert("RGB")
    expect: dict[str, str | None] = {}

    def good(name: str, image: Image.Image, **save) -> None:
        image.save(folder / name, **save)
        expect[name] = None

    good("good.jpg", photo, quality=92)
    good("grey.png", photo.convert("L"))
    good("palette.png", photo.convert("P", palette=Image.Palette.ADAPTIVE))
    good("rgba.png", photo.convert("RGBA"))
    good("cmyk.jpg", photo.convert("CMYK"))
    good("sixteen_bit.png", Image.fromarray(np.asarray(photo.convert("L"), np.uint16) * 257))
    good("one_pixel.png", Image.new("RGB", (1, 1), "white"))
    good("thin.png", photo.resize((2000, 1)))
    frames = [photo, photo.rotate(180)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    expect["animated.gif"] = None
    (folder / "ça va — scan 1.png").write_bytes((folder / "grey.png").read_bytes())
    expect["ça va — scan 1.png"] = None

    (folder / "zero.jpg").write_bytes(b"")
    expect["zero.jpg"] = "not an image file"
    (folder / "text.jpg").write_text("this is not a picture\n")
    expect["text.jpg"] = "not an image file"
    whole = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    expect["truncated.jpg"] = "unreadable image"
    png = (folder / "grey.png").read_bytes()
    (folder / "truncated.png").write_bytes(png[: len(png) // 2])
    expect["truncated.png"] = "unreadable image"
    _png_with_size(folder / "bomb.png", 40_000, 40_000)
    expect["bomb.png"] = "image too large"
    (folder / "dangling.png").symlink_to(folder / "nowhere.png")
    expect["dangling.png"] = "no such file"
    return expect


def test_a_batch_with_bad_files_reports_each_and_classifies_the_rest(tmp_path):
    folder = tmp_path / "inbox"
    expect = make_corpus(folder)
    r = _cli(folder, "--json")
    assert r.returncode == 1, r.stderr  # some inputs unreadable: 1, and the rest classified
    assert "Traceback" not in r.stderr
    results = {Path(x["path"]).name: x for x in json.loads(r.stdout)["results"]}
    assert set(results) == set(expect)
    for name, reason in expect.items():
        if reason is None:
            assert "error" not in results[name], (name, results[name])
            assert 0.0 <= results[name]["score"] <= 1.0
        else:
            error = results[name]["error"]
            assert error.startswith(str(folder / name) + ": ") and reason in error, error
            assert "\n" not in error
    for name in ("good.jpg", "grey.png", "palette.png", "rgba.png", "cmyk.jpg", "ça va — scan 1.png"):
        assert results[name]["label"] == "form_9", (name, results[name])

    # Text mode: one line per bad file on stderr, one per good file on stdout.
    r = _cli(folder)
    assert r.returncode == 1
    errors = r.stderr.strip().splitlines()
    assert len(errors) == sum(v is not None for v in expect.values())
    assert all(line.startswith("error: " + str(folder)) for line in errors)
    assert len(r.stdout.strip().splitlines()) == sum(v is None for v in expect.values())


def test_exif_orientation_is_honoured(tmp_path):
    upright = Image.open(PHOTO).convert("RGB")
    # Stored turned a quarter, with EXIF saying "rotate 90° clockwise to display" (orientation 6).
    exif = Image.Exif()
    exif[0x0112] = 6
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "tagged.jpg", exif=exif, quality=95)
    upright.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "untagged.jpg", quality=95)
    upright.save(tmp_path / "upright.jpg", quality=95)
    assert infer.open_image(tmp_path / "tagged.jpg").size == upright.size
    clf = infer.DocClassifier(MODEL, REGISTER)
    scores = {n: clf.classify(tmp_path / f"{n}.jpg") for n in ("tagged", "untagged", "upright")}
    assert scores["tagged"][0] == "form_9"
    assert abs(scores["tagged"][1] - scores["upright"][1]) < 0.01
    assert scores["untagged"][1] < scores["upright"][1] - 0.02  # the tag is what made the difference


def test_unreadable_file_is_reported_and_the_batch_goes_on():
    """Root reads any file, so as root the CLI runs as ``nobody`` (setpriv) over a folder it can
    enter holding one readable image and one it may not read."""
    as_user: list[str] = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv (util-linux) to drop privileges")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    folder = Path(tempfile.mkdtemp(prefix="docclassifier-perm-"))  # not under pytest's 0700 tmp root
    try:
        folder.chmod(0o755)
        shutil.copy(PHOTO, folder / "ok.png")
        (folder / "ok.png").chmod(0o644)
        secret = folder / "secret.png"
        Image.new("RGB", (32, 32)).save(secret)
        secret.chmod(0)
        cmd = [*as_user, sys.executable, str(ROOT / "infer.py"), str(folder / "ok.png"), str(secret), "--json"]
        cmd += ["--register", str(REGISTER)]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr
        ok, denied = json.loads(r.stdout)["results"]
        assert ok["label"] == "form_9" and "error" not in ok
        assert denied["error"] == f"{secret}: permission denied"
    finally:
        shutil.rmtree(folder)


def test_a_folder_named_like_an_image_is_refused_as_an_image(tmp_path):
    (tmp_path / "scan.png").mkdir()
    with pytest.raises(infer.InferError, match=r"scan\.png: is a folder, not an image"):
        infer.open_image(tmp_path / "scan.png")
    r = _cli(tmp_path / "scan.png")  # as an input, a folder is searched; this one holds no images
    assert r.returncode == 2 and r.stderr.strip() == f"infer.py: error: no images found in {tmp_path / 'scan.png'}"


def _register_copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(REGISTER, tmp_path / "register", ignore=shutil.ignore_patterns(".*")))


def test_register_with_a_symlink_loop_broken_files_and_duplicate_labels(tmp_path):
    reg = _register_copy(tmp_path)
    (reg / "loop").symlink_to(reg, target_is_directory=True)  # register/loop/loop/... forever
    (reg / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    shutil.copy(reg / "invoice_20.png", reg / "form_9.jpg")  # a second file labelled form_9
    runs = [_cli(PHOTO, "--register", reg, "--json") for _ in range(2)]
    for i, r in enumerate(runs):
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
        warnings = r.stderr.strip().splitlines()
        # form_9 now holds a copy of invoice_20: said when the register is first embedded, not again
        alike = [w for w in warnings if "look alike" in w]
        assert len(alike) == (1 if i == 0 else 0), alike
        assert all("form_9" in w and "invoice_20" in w for w in alike)
        warnings = [w for w in warnings if w not in alike]
        assert any(w.endswith(f"{reg / 'broken.png'}: not an image file; skipped from the register") for w in warnings)
        assert any(
            w.startswith(f"warning: {reg / 'loop'}: links back to") and "(a loop); skipped" in w for w in warnings
        )
        assert len(warnings) == 3, warnings  # nothing read through the loop
        assert any("label 'form_9' comes from form_9.jpg, form_9.png" in w for w in warnings), warnings
    first, second = ([{k: v for k, v in x.items() if k != "ms"} for x in json.loads(r.stdout)["results"]] for r in runs)
    assert first == second  # deterministic (all but the timing)
    assert json.loads(runs[0].stdout)["results"][0]["label"] == "form_9"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty", "register holds no readable images"),
        ("missing", "register folder not found"),
        ("only_broken", "register holds no readable images"),
    ],
)
def test_unusable_registers_stop_with_one_line(tmp_path, setup, message):
    reg = tmp_path / "reg"
    if setup != "missing":
        reg.mkdir()
    if setup == "only_broken":
        (reg / "a.png").write_text("no")
    r = _cli(PHOTO, "--register", reg)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("infer.py: error: ") and message in lines[-1], lines
    assert "Traceback" not in r.stderr


def _foreign_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "foreign", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("garbage", "not a valid ONNX model"),
        ("empty", "not a valid ONNX model"),
        ("foreign", "not a DocClassifier embedding model"),
        ("missing", "model file not found"),
    ],
)
def test_bad_models_stop_with_one_line(tmp_path, kind, message):
    model = tmp_path / "model.onnx"
    if kind == "garbage":
        model.write_bytes(random.Random(1).randbytes(4096))
    elif kind == "empty":
        model.write_bytes(b"")
    elif kind == "foreign":
        _foreign_onnx(model)
    r = _cli(PHOTO, "--model", model)
    assert r.returncode == 2
    assert r.stderr.strip() == f"infer.py: error: {model}: {message}" or (
        r.stderr.strip().startswith(f"infer.py: error: {model}: {message}") and len(r.stderr.strip().splitlines()) == 1
    ), r.stderr
    debug = _cli(PHOTO, "--model", model, "--debug")
    assert "Traceback" in debug.stderr and debug.returncode == 2


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("garbage", "not a readable checkpoint ("),
        ("empty", "not a readable checkpoint ("),
        ("tensor", "not a DocClassifier training checkpoint (no model/config entries)"),
        ("missing", "no such checkpoint file"),
    ],
)
def test_bad_checkpoints_are_one_line_errors_in_every_script(tmp_path, kind, message):
    import torch

    ckpt = tmp_path / "last.pt"
    if kind == "garbage":
        # A pickle header, then fixed noise: which error the unpickler raises depends on the bytes.
        ckpt.write_bytes(b"\x80\x04" + random.Random(0).randbytes(4096))
    elif kind == "empty":
        ckpt.write_bytes(b"")
    elif kind == "tensor":
        torch.save(torch.zeros(3), ckpt)
    data = tmp_path / "eval-set"
    (data / "register").mkdir(parents=True)
    (data / "queries").mkdir()
    runs = [
        ("train.py", ["--resume", ckpt]),
        ("export_onnx.py", ["--ckpt", ckpt, "--out", tmp_path / "m.onnx"]),
        ("eval.py", ["--ckpt", ckpt, "--data", data]),
    ]
    for (script, _), r in zip(runs, run_scripts(runs, timeout=120), strict=True):
        assert r.returncode == 2, (script, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{script}: error: {ckpt}: {message}"), (script, lines)
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("input_size", "96", "takes 3×128×128 inputs but its metadata says 3×96×96"),
        ("embed_dim", "64", "gives 128-d embeddings but its metadata says 64"),
    ],
)
def test_model_whose_graph_and_metadata_disagree_is_refused(tmp_path, key, value, message):
    import onnx

    proto = onnx.load(MODEL)
    next(p for p in proto.metadata_props if p.key == key).value = value
    model = tmp_path / "edited.onnx"
    onnx.save(proto, model)
    r = _cli(PHOTO, "--model", model)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"infer.py: error: {model}: the model {message}"), line


def test_checkpoint_of_another_config_is_one_line_error_in_every_script(tiny_export, tmp_path):
    """A checkpoint whose weights are not those of the config it carries (or of the config that
    overrides change it to): each script names the file and the first mismatched weights."""
    import torch

    ckpt_path, _ = tiny_export
    state = torch.load(ckpt_path, weights_only=True)
    state["config"]["model"]["embed_dim"] = 32  # weights trained with 64
    other = tmp_path / "other.pt"
    torch.save(state, other)
    data = tmp_path / "eval-set"
    (data / "register").mkdir(parents=True)
    (data / "queries").mkdir()
    runs = [
        ("train.py", ["--resume", other]),
        ("train.py", ["--resume", ckpt_path, "--model.embed_dim", "32"]),
        ("export_onnx.py", ["--ckpt", other, "--out", tmp_path / "m.onnx"]),
        ("eval.py", ["--ckpt", other, "--data", data]),
    ]
    for (script, args), r in zip(runs, run_scripts(runs), strict=True):
        assert r.returncode == 2, (script, r.stderr)
        (line,) = r.stderr.strip().splitlines()
        path = args[1]
        assert line.startswith(f"{script}: error: {path}: weights do not fit the configured model (shape of "), line
        assert "64 in the checkpoint" in line and "32 here" in line, line
    assert not (tmp_path / "m.onnx").exists()
