"""bench/baselines.py runs the classic matchers and ours on one folder and reports the same metrics."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT
from data.samples import write_eval_set

pytestmark = pytest.mark.slow


def test_baselines_side_by_side(tmp_path):
    write_eval_set(tmp_path / "set", num_types=4, photos_per_type=1, unknown_types=1, long_side=192)
    out = tmp_path / "b.json"
    proc = subprocess.run(
        [sys.executable, "bench/baselines.py", "--data", str(tmp_path / "set"), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["results"]
    assert [r["method"].split()[0] for r in rows] == ["ours", "perceptual", "ORB"]
    for r in rows:
        assert 0 <= r["top1"] <= 1 and 0 <= r["auc"] <= 1 and r["ms_per_query"] > 0
    assert "TPR@1e-3" in proc.stdout


def test_unknown_method_is_one_line_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "bench/baselines.py", "--data", str(tmp_path), "--methods", "ours,sift"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--methods: unknown ['sift']" in proc.stderr
