"""export_onnx.py: the feature branch only, a dynamic batch axis, parity with PyTorch, metadata."""

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from conftest import ROOT
from engine.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def test_exported_graph_is_the_embedding_branch_with_metadata(tiny_export):
    ckpt_path, onnx_path = tiny_export
    proto = onnx.load(str(onnx_path))
    onnx.checker.check_model(proto)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["input_size"] == "64" and meta["embed_dim"] == "64" and meta["config"] == "tiny_cpu"
    assert json.loads(meta["mean"]) == [0.485, 0.456, 0.406] and meta["channel_order"] == "RGB"
    assert float(meta["threshold"]) == 0.9 and int(meta["flops"]) > 1e6 and int(meta["num_params"]) > 1e5
    assert {"date", "score", "train_step", "config_yaml"} <= set(meta)
    # No margin head: nothing shaped like the (num_classes, embed_dim) class centres.
    head_shape = tuple(load_checkpoint(ckpt_path)["model"]["head.weight"].shape)
    assert all(tuple(init.dims) != head_shape for init in proto.graph.initializer)
    assert [i.name for i in proto.graph.input] == ["img"] and [o.name for o in proto.graph.output] == ["feats"]


def test_batch_axis_is_really_dynamic(tiny_export):
    _, onnx_path = tiny_export
    proto = onnx.load(str(onnx_path))
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch_size"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "batch_size"
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for n in (1, 3, 8):
        (out,) = session.run(None, {"img": np.random.rand(n, 3, 64, 64).astype(np.float32)})
        assert out.shape == (n, 64)
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_onnx_matches_pytorch(tiny_export):
    from configs import config_from_dict
    from models import build_model

    ckpt_path, onnx_path = tiny_export
    ckpt = load_checkpoint(ckpt_path)
    cfg = config_from_dict(ckpt["config"])
    model = build_model(cfg.model, cfg.data.image_size, ckpt["num_classes"])
    model.load_state_dict(ckpt["model"])
    embed = model.embedding_model().eval()
    x = torch.randn(5, 3, 64, 64)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(session.run(None, {"img": x.numpy()})[0], embed(x).numpy(), atol=1e-4)
    # The graph's tensors keep the names of the body's modules, as weights files do.
    names = {init.name for init in onnx.load(str(onnx_path)).graph.initializer}
    assert {k for k in embed.state_dict() if k.endswith(".weight")} & names


def test_a_checkpoint_from_before_the_body_module_loads_as_the_same_model(tiny_export, tmp_path):
    """Checkpoints written when the training model held backbone and neck at its top (tensors
    ``backbone.*``, ``neck.*``; now ``body.backbone.*``, ``body.neck.*``) still export and resume."""
    from engine.weights import embedding_model

    ckpt_path, _ = tiny_export
    old = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert all(k.startswith(("body.", "head.")) for k in old["model"])
    old["model"] = {k.removeprefix("body."): v for k, v in old["model"].items()}
    torch.save(old, tmp_path / "old.pt")
    now, before = load_checkpoint(ckpt_path), load_checkpoint(tmp_path / "old.pt")
    assert before["model"].keys() == now["model"].keys()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        a = embedding_model(now, ckpt_path)(x)
        b = embedding_model(before, tmp_path / "old.pt")(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def _export(*args):
    return subprocess.run(
        [sys.executable, "export_onnx.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_checkpoint_and_config_disagreeing_is_one_line_error(tiny_export, tmp_path):
    ckpt_path, _ = tiny_export
    proc = _export(
        "--cfg", "tiny_cpu", "--model.embed_dim", "32", "--ckpt", str(ckpt_path), "--out", str(tmp_path / "x.onnx")
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"export_onnx.py: error: {ckpt_path}: checkpoint does not match config 'tiny_cpu'")
    assert "model.embed_dim=64 (config: 32)" in line
    assert not (tmp_path / "x.onnx").exists()


def test_a_run_folder_without_checkpoints_is_one_line_error(tmp_path):
    # (a missing, empty or unreadable --ckpt: tests/test_bad_input.py, for every script)
    proc = _export("--cfg", "tiny_cpu", "--train.output_dir", str(tmp_path))
    assert proc.returncode == 2 and "no checkpoint found under" in proc.stderr


def test_threshold_is_calibrated_when_not_given(tiny_export, tmp_path):
    import export_onnx

    ckpt_path, _ = tiny_export
    out = tmp_path / "calibrated.onnx"
    # (the decision table, calibrated by default too, is tests/test_decision.py's)
    argv = ["--ckpt", str(ckpt_path), "--out", str(out), "--calibration-types", "6", "--policy-types", "0"]
    assert export_onnx.main(argv) == 0
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert 0.0 <= float(meta["threshold"]) <= 1.0 and meta["threshold_fpr"] == "0.01"
    assert 0.0 <= float(meta["threshold_tpr"]) <= 1.0 and "6 held-out" in meta["calibration_data"]
