"""bench/compare.py: paired bootstrap of models on one evaluation set."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from data.samples import write_eval_set
from engine.scores import headline_metrics
from eval import ScoredSet

sys.path.insert(0, str(ROOT / "bench"))
from compare import compare, type_resamples  # noqa: E402


def _scored(scores, truth, folders):
    return ScoredSet(np.asarray(scores, float), np.asarray(truth), np.asarray(folders), 0.001)


def _toy(rng, genuine_boost):
    """10 registered types, 2 queries each, plus 2 unregistered types: random impostor scores,
    genuine pairs lifted by ``genuine_boost``."""
    truth = np.r_[np.repeat(np.arange(10), 2), [-1, -1, -1, -1]]
    folders = np.r_[np.repeat([f"t{i}" for i in range(10)], 2), ["u0", "u0", "u1", "u1"]]
    scores = rng.uniform(0.3, 0.8, (len(truth), 10))
    known = np.flatnonzero(truth >= 0)
    scores[known, truth[known]] += genuine_boost[known]
    return _scored(scores, truth, folders)


def test_resamples_draw_whole_query_types():
    folders = np.array(["a", "a", "b", "c", "c", "c"])
    draws = type_resamples(folders, 50, seed=1)
    assert {len(rows) for rows in draws} != {6}  # the draws differ in size: types drawn with replacement
    for rows in draws:
        drawn = folders[rows]
        for name, size in (("a", 2), ("b", 1), ("c", 3)):
            assert (drawn == name).sum() % size == 0  # a type comes with all of its queries, or not at all
    assert type_resamples(folders, 3, seed=1)[2].tolist() == type_resamples(folders, 3, seed=1)[2].tolist()


def test_a_model_against_itself_differs_by_nothing():
    one = _toy(np.random.default_rng(0), np.full(24, 0.1))
    (ref, same) = compare([one, one], resamples=200)
    assert same["difference"] == dict.fromkeys(same["difference"], 0.0)
    assert all(lo == hi == 0.0 for lo, hi in same["difference_interval"].values())
    assert ref["figures"] == headline_metrics(one.scores, one.truth)
    for k, (lo, hi) in ref["interval"].items():
        assert lo <= ref["figures"][k] <= hi


def test_a_model_better_on_every_genuine_pair_is_ahead_on_every_resample():
    rng = np.random.default_rng(3)
    weak = _toy(rng, np.full(24, 0.05))
    strong = weak._replace(scores=weak.scores.copy())
    known = np.flatnonzero(weak.truth >= 0)
    strong.scores[known, weak.truth[known]] += 0.3  # same impostors, every genuine pair higher
    _, row = compare([weak, strong], resamples=300, level=0.9)
    assert row["difference"]["auc"] > 0 and row["share_ahead"]["auc"] == 1.0
    lo, hi = row["difference_interval"]["tpr@1e-3"]
    assert 0 <= lo <= row["difference"]["tpr@1e-3"] <= hi
    assert all(lo >= 0 for lo, _ in row["difference_interval"].values())  # never behind


def test_models_that_scored_different_queries_are_refused():
    a = _toy(np.random.default_rng(0), np.full(24, 0.1))
    b = a._replace(query_folder=np.roll(a.query_folder, 1))
    with pytest.raises(ValueError, match="same queries"):
        compare([a, b], resamples=10)


@pytest.mark.slow
def test_cli_compares_real_models_on_a_real_set(tmp_path, tiny_export):
    write_eval_set(tmp_path / "set", num_types=6, photos_per_type=2, unknown_types=2, long_side=192)
    _, tiny_onnx = tiny_export
    out = tmp_path / "c.json"
    cmd = [sys.executable, "bench/compare.py", "--data", str(tmp_path / "set"), "--resamples", "100"]
    cmd += ["--models", "assets/model.onnx", str(tiny_onnx), "--json", str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "8 query types, 16 queries, 6 registered types" in proc.stdout and "minus the reference" in proc.stdout
    models = json.loads(out.read_text())["models"]
    assert [m["model"] for m in models] == ["assets/model.onnx", str(tiny_onnx)]
    for m in models:
        for k, (lo, hi) in m["interval"].items():
            assert lo <= m["figures"][k] <= hi
    assert "difference" not in models[0] and set(models[1]["difference"]) == {"top1", "auc", "tpr@1e-3", "tpr@1e-4"}


def test_cli_bad_model_is_one_line_error(tmp_path):
    write_eval_set(tmp_path / "set", num_types=2, photos_per_type=1, unknown_types=0, long_side=128)
    cmd = [sys.executable, "bench/compare.py", "--data", str(tmp_path / "set"), "--models", str(tmp_path / "no.onnx")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("compare.py: error: ")
    assert "no.onnx" in proc.stderr
