"""The weights' moving average: its arithmetic, in training (resume, validation) and in export/eval."""

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from conftest import ROOT, TINY
from engine.checkpoint import body_weights, load_checkpoint
from engine.ema import WeightEMA
from engine.metrics import read_jsonl


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def test_each_update_blends_in_the_new_weights_and_buffers_at_the_warmed_up_decay():
    torch.manual_seed(0)
    net = _net()
    ema = WeightEMA(net, decay=0.9)
    assert [ema.decay_at(t) for t in (1, 8, 80, 10**6)] == pytest.approx([2 / 11, 9 / 18, 0.9, 0.9])
    before = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():  # a "step": new weights, and BatchNorm statistics of a forward pass
        for p in net.parameters():
            p.add_(torch.randn_like(p))
        net.train()(torch.randn(8, 3, 8, 8))
    ema.update(step=80)
    new = net.state_dict()
    for k, v in ema.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, 0.9 * before[k] + 0.1 * new[k])
            assert not torch.equal(v, new[k])
        else:  # num_batches_tracked: copied
            assert torch.equal(v, new[k]) and v.item() == 1
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    # A saved average loads back into another.
    other = WeightEMA(_net(), decay=0.9)
    other.load_state_dict(ema.state_dict())
    torch.testing.assert_close(other.state_dict(), ema.state_dict())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5])
def test_a_decay_outside_zero_to_one_is_refused(decay):
    with pytest.raises(ValueError, match="decay must be in"):
        WeightEMA(_net(), decay)


@pytest.mark.slow
def test_training_keeps_the_average_in_checkpoints_resumes_it_and_validates_it(tmp_path):
    from train import run

    args = ["--cfg", "tiny_cpu", *TINY, "--train.ckpt_every_steps", "4", "--train.ema_decay", "0.9"]
    full = run([*args, "--run-dir", str(tmp_path / "full")])
    val = ["--train.val_every_steps", "6", "--train.val_types", "4"]
    part = run([*args, *val, "--run-dir", str(tmp_path / "part"), "--train.stop_after_steps", "6"])
    assert part.step == 6
    resumed = run(["--resume", str(tmp_path / "part")])
    assert resumed.step == full.step == 16
    a, b = load_checkpoint(tmp_path / "full" / "last.pt"), load_checkpoint(tmp_path / "part" / "last.pt")
    # The average covers the backbone and neck (what export reads), not the margin head.
    trained = body_weights(a, raw=True)
    assert set(a["ema"]) == set(trained) and set(a["model"]) == {f"body.{k}" for k in trained} | {"head.weight"}
    torch.testing.assert_close(b["ema"], a["ema"], rtol=1e-5, atol=1e-6)  # resumed exactly
    torch.testing.assert_close(b["model"], a["model"], rtol=1e-5, atol=1e-6)  # and training unchanged by it
    assert any(not torch.allclose(a["ema"][k], trained[k]) for k in a["ema"] if a["ema"][k].is_floating_point())
    records = [r for r in read_jsonl(tmp_path / "part" / "metrics.jsonl") if "val_top1" in r]
    assert [r["step"] for r in records] == [6, 12, 16]
    assert all(0 <= r["val_ema_top1"] <= 1 and 0 <= r["val_ema_auc"] <= 1 for r in records)


@pytest.mark.slow
def test_a_tiny_decay_makes_the_average_the_last_weights(tmp_path):
    from train import run

    run(["--cfg", "tiny_cpu", *TINY, "--train.ema_decay", "1e-9", "--run-dir", str(tmp_path / "r")])
    ckpt = load_checkpoint(tmp_path / "r" / "last.pt")
    # Updated after every step, the last one included: with decay ~0 it is the trained weights.
    torch.testing.assert_close(ckpt["ema"], body_weights(ckpt, raw=True), rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory):
    from train import run

    run_dir = tmp_path_factory.mktemp("ema") / "run"
    run(["--cfg", "tiny_cpu", *TINY, "--train.ema_decay", "0.9", "--run-dir", str(run_dir)])
    return run_dir


@pytest.mark.slow
@pytest.mark.parametrize("raw", [False, True])
def test_export_and_eval_use_the_average_unless_told_raw_weights(ema_run, tmp_path, raw):
    from configs import config_from_dict
    from eval import checkpoint_embedder
    from models import EmbeddingModel, build_body

    out = tmp_path / "m.onnx"
    flag = ["--raw-weights"] if raw else []
    cmd = [sys.executable, "export_onnx.py", "--ckpt", str(ema_run), "--out", str(out), "--threshold", "0.9", *flag]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert ("trained weights" if raw else "moving-average weights") in proc.stdout
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["weights"] == ("trained" if raw else "ema")

    ckpt = load_checkpoint(ema_run / "last.pt")
    cfg = config_from_dict(ckpt["config"])
    expected, other = body_weights(ckpt, raw), body_weights(ckpt, not raw)
    x = torch.randn(4, 3, 64, 64)
    feats = []
    for weights in (expected, other):
        body = build_body(cfg.model, cfg.data.image_size)
        body.load_state_dict(weights)
        with torch.no_grad():
            feats.append(EmbeddingModel.of(body).eval()(x).numpy())
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (onnx_feats,) = session.run(None, {"img": x.numpy()})
    np.testing.assert_allclose(onnx_feats, feats[0], atol=1e-4)
    assert np.abs(onnx_feats - feats[1]).max() > 1e-3  # the other weights would not pass

    embedder = checkpoint_embedder(str(ema_run), raw=raw)
    assert embedder.name.endswith("step16" if raw else "step16-ema")


def test_raw_weights_with_an_onnx_model_is_refused(tmp_path, capsys):
    from eval import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--model", str(tmp_path / "m.onnx"), "--data", str(tmp_path), "--raw-weights"])
    assert exit_info.value.code == 2
    assert "--raw-weights chooses a checkpoint's weights: use it with --ckpt" in capsys.readouterr().err
