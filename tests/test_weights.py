"""Backbone and neck weights as a file of their own (engine/weights.py): written from a checkpoint
or recovered from an exported graph, and a training run that starts from them (model.init)."""

import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest
import torch

from configs import load_config
from conftest import ROOT, TINY
from engine.checkpoint import CheckpointError, body_weights, load_checkpoint
from engine.weights import calibration_images, check_fits, init_from, load_weights, main, weights_from_onnx
from models import build_model


def _weights_from_ckpt(tiny_export, tmp_path):
    ckpt_path, _ = tiny_export
    out = tmp_path / "w.pt"
    assert main(["--ckpt", str(ckpt_path), "--out", str(out)]) == 0
    return out


def test_weights_from_a_checkpoint_load_every_backbone_and_neck_tensor_and_leave_the_head_fresh(tiny_export, tmp_path):
    path = _weights_from_ckpt(tiny_export, tmp_path)
    blob = load_weights(path)
    ckpt = load_checkpoint(tiny_export[0])
    trained = body_weights(ckpt)
    assert blob["state_dict"].keys() == trained.keys()  # every backbone and neck tensor, no head

    cfg = load_config("tiny_cpu")
    model = build_model(cfg.model, cfg.data.image_size, num_classes=7)  # other classes: a new task
    head_before = model.head.weight.detach().clone()
    init_from(model, str(path))
    state = model.body.state_dict()
    for key, value in trained.items():
        torch.testing.assert_close(state[key], value, rtol=0, atol=0, msg=key)
    assert torch.equal(model.head.weight, head_before)


def test_weights_of_another_model_are_refused_in_one_line(tiny_export, tmp_path):
    path = _weights_from_ckpt(tiny_export, tmp_path)
    cfg = load_config("tiny_cpu", ["--model.embed_dim", "32"])
    with pytest.raises(CheckpointError) as e:
        check_fits(str(path), cfg)
    message = str(e.value)
    assert "\n" not in message and str(path) in message and "embed_dim=64 (config: 32)" in message
    with pytest.raises(CheckpointError) as e:  # the tensors themselves, named
        init_from(build_model(cfg.model, cfg.data.image_size, num_classes=3), str(path))
    assert "\n" not in str(e.value) and "neck.fc2.weight" in str(e.value)
    with pytest.raises(CheckpointError, match="not a DocClassifier weights file"):
        load_weights(tiny_export[0])  # a training checkpoint is not a weights file


def test_the_backbone_alone_starts_a_model_with_another_neck(tiny_export, tmp_path):
    path = _weights_from_ckpt(tiny_export, tmp_path)
    overrides = ["--model.hidden_dim", "64", "--model.embed_dim", "32", "--model.init_neck", "false"]
    cfg = load_config("tiny_cpu", overrides)
    check_fits(str(path), cfg)  # only the backbone must agree
    model = build_model(cfg.model, cfg.data.image_size, num_classes=5)
    neck_before = {k: v.clone() for k, v in model.body.neck.state_dict().items()}
    assert "a fresh neck and head" in init_from(model, str(path), neck=False)
    saved = load_weights(path)["state_dict"]
    for key, value in model.body.backbone.state_dict().items():
        assert torch.equal(value, saved[f"backbone.{key}"]), key
    for key, value in model.body.neck.state_dict().items():
        assert torch.equal(value, neck_before[key]), key
    with pytest.raises(CheckpointError, match="backbone='lcnet_050' \\(config: 'lcnet_035'\\)"):
        check_fits(str(path), load_config("tiny_cpu", [*overrides, "--model.backbone", "lcnet_035"]))


def test_a_squeeze_neck_of_another_input_size_is_resampled_to_fit(tiny_export, tmp_path):
    """Weights trained at 64 px start a 96 px model: every tensor but the squeeze neck's first
    Linear is loaded as it is; that one, a map over the feature grid per hidden unit and channel,
    is resampled from 2×2 to 3×3 positions, so a map that is flat over the grid keeps its sum."""
    path = _weights_from_ckpt(tiny_export, tmp_path)
    saved = load_weights(path)["state_dict"]
    shape = ["--onnx.input_shape", "{img: {shape: [1, 3, 96, 96], dtype: float32}}"]
    cfg = load_config("tiny_cpu", ["--data.image_size", "96", *shape])
    check_fits(str(path), cfg)  # another input size is not a mismatch for the squeeze neck
    model = build_model(cfg.model, cfg.data.image_size, num_classes=5)
    assert "resampled from a 2×2 to a 3×3 feature map" in init_from(model, str(path))
    state = model.body.state_dict()
    for key, value in saved.items():
        if key != "neck.fc1.weight":
            assert torch.equal(state[key], value), key
    hidden, inputs = saved["neck.fc1.weight"].shape
    channels = inputs // 4
    assert state["neck.fc1.weight"].shape == (hidden, channels * 9)
    # A weight map flat over the grid: each (hidden unit, channel) keeps its sum over positions exactly.
    flat = torch.randn(hidden, channels, 1, 1).expand(hidden, channels, 2, 2).reshape(hidden, -1)
    blob = load_weights(path)
    blob["state_dict"]["neck.fc1.weight"] = flat.clone()
    torch.save(blob, tmp_path / "flat.pt")
    init_from(model, str(tmp_path / "flat.pt"))
    grid = model.body.state_dict()["neck.fc1.weight"].reshape(hidden, channels, 9)
    torch.testing.assert_close(grid.sum(-1), flat.reshape(hidden, channels, 4).sum(-1), rtol=1e-5, atol=1e-6)
    # A pooling neck has no grid, and the backbone's convolutions fit any size: nothing to resample.
    with pytest.raises(CheckpointError, match="neck='squeeze' \\(config: 'pool'\\)"):
        check_fits(str(path), load_config("tiny_cpu", ["--model.neck", "pool"]))


def test_weights_recovered_from_an_exported_graph_compute_the_graph(tiny_export):
    _, onnx_path = tiny_export
    cfg = load_config("tiny_cpu")
    batch = next(iter(calibration_images(cfg, count=48, batch=48, seed=3)))
    model, recorded = weights_from_onnx(onnx_path, [batch])
    assert recorded.model.embed_dim == cfg.model.embed_dim

    # Eval mode: the graph's function, to float32 rounding of unit-norm outputs.
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    other = next(iter(calibration_images(cfg, count=16, batch=16, seed=11)))
    with torch.no_grad():
        ours = model(other).numpy()
    theirs = session.run(None, {"img": other.numpy()})[0]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4)

    # Train mode on the batch the statistics came from: BatchNorm normalises with exactly those
    # statistics, so the layer is the same function as in eval mode (what fine-tuning starts from).
    with torch.no_grad():
        evaluated = model(batch)
        model.train()
        trained = model(batch)
    torch.testing.assert_close(trained, evaluated, rtol=0, atol=1e-3)


def test_a_run_starts_from_the_weights_and_a_bad_file_is_one_line(tiny_export, tmp_path):
    path = _weights_from_ckpt(tiny_export, tmp_path)
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "train.py", "--cfg", "tiny_cpu", *TINY, "--train.epochs", "1"]
    proc = subprocess.run(
        [*cmd, "--model.init", str(path), "--run-dir", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"backbone and neck from {path}" in proc.stdout

    proc = subprocess.run(
        [*cmd, "--model.init", str(tmp_path / "nope.pt"), "--run-dir", str(tmp_path / "run2")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"train.py: error: {tmp_path / 'nope.pt'}: no such weights file"
