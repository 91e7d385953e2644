"""Training curves (engine/plot.py): what is read from metrics.jsonl and that a PNG comes out."""

import json

import numpy as np
import pytest
from PIL import Image

from engine.plot import PlotError, main, plot_evaluation, read_run, smooth
from engine.scores import tpr_at_fpr


def write_log(path, steps=60, val_every=20, torn=False):
    lines = []
    for step in range(10, steps + 1, 10):
        lines.append(
            {"step": step, "epoch": 0, "loss": 20 - step / 10, "acc": step / 100, "lr": 1e-3, "img_per_s": 150.0}
        )
        lines.append({"step": step, "total_steps": 100, "budget_left_s": 50.0})
        if step % val_every == 0:
            lines.append({"step": step, "val_top1": step / 100, "val_tpr@0.001": step / 200, "val_auc": 0.9})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + ('{"step": 70, "lo' if torn else ""))
    return path


def test_read_run_splits_training_and_validation_series(tmp_path):
    write_log(tmp_path / "metrics.jsonl", torn=True)
    train, val = read_run(tmp_path)
    steps, loss = train["loss"]
    assert steps.tolist() == [10, 20, 30, 40, 50, 60] and loss[0] == 19
    assert set(train) == {"loss", "acc", "lr", "img_per_s"}  # not total_steps, budget_left_s
    assert set(val) == {"val_top1", "val_tpr@0.001"}  # the drawn figures only
    assert val["val_top1"][0].tolist() == [20, 40, 60]


def test_read_run_refuses_what_is_not_a_run(tmp_path):
    with pytest.raises(PlotError, match="no metrics.jsonl"):
        read_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"loss": 1.0}\n')
    with pytest.raises(PlotError, match=r"metrics.jsonl:1: not a metrics record"):
        read_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "note": "x"}\n')
    with pytest.raises(PlotError, match="no training or validation records"):
        read_run(tmp_path)


def test_smooth_is_a_trailing_mean():
    v = np.array([0.0, 2.0, 4.0, 6.0])
    np.testing.assert_allclose(smooth(v, 2), [0.0, 1.0, 3.0, 5.0])
    np.testing.assert_allclose(smooth(v, 1), v)


def test_main_draws_one_png_for_several_runs(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        write_log(tmp_path / name / "metrics.jsonl", steps=40 if name == "a" else 60)
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = tmp_path / "a" / "curves.png"
    assert capsys.readouterr().out.strip() == str(out)
    image = Image.open(out)
    assert image.format == "PNG" and image.size[0] > 1000
    assert np.asarray(image.convert("L")).std() > 10  # something was drawn
    assert main([str(tmp_path / "missing")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err


def test_evaluation_plots_mark_the_table_and_the_threshold(tmp_path):
    rng = np.random.default_rng(0)
    genuine, impostor = rng.normal(0.9, 0.03, 200).clip(0, 1), rng.normal(0.5, 0.08, 20_000).clip(0, 1)
    points = tpr_at_fpr(genuine, impostor)
    roc, hist = plot_evaluation(genuine, impostor, points, 0.8, tmp_path / "p", "a test")
    assert (roc.name, hist.name) == ("roc.png", "scores.png")
    for png in (roc, hist):
        assert np.asarray(Image.open(png).convert("L")).std() > 10
    # no impostor pairs at all (every query's own type only): still drawn, nothing to mark
    plot_evaluation(genuine, np.array([]), tpr_at_fpr(genuine, np.array([0.0])), 0.8, tmp_path / "q")
