"""calibrate.py: the threshold and margin for a user's own register from photos of known and
unknown documents, the rates they give, and the settings file it writes."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import infer
from calibrate import margin_for, suggest_calibration, threshold_for
from conftest import ROOT
from data import SyntheticDocuments
from data.photo import photo_of
from policy import load_settings

pytestmark = pytest.mark.slow


def test_threshold_lets_through_at_most_the_target_share():
    best = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    assert threshold_for(best, 0.0) > 0.9  # nothing may pass: just above the highest
    t = threshold_for(best, 0.2)  # two of ten may pass
    assert (best >= t).sum() == 2 and 0.7 < t <= 0.8
    assert threshold_for(best, 0.25) == t  # 2.5 documents: still two
    assert threshold_for(best, 1.0) == pytest.approx(0.05)


def test_suggestion_is_the_table_that_keeps_the_target_and_accepts_the_most():
    def outcome(accepted, rejected):
        return {"right_accepted": {"rate": accepted}, "unknown_rejected": {"rate": rejected}}

    tables = {"any": outcome(0.60, 0.99), "forms": outcome(0.60, 0.99), "pages": outcome(0.90, 0.985)}
    text = suggest_calibration(tables, 0.02, "reg/docclassifier.yaml")
    assert text.startswith("suggestion: declare calibration: pages in reg/docclassifier.yaml;")
    assert "accepts the most right answers (0.900, letting 0.015 of the unknown documents through)" in text
    # the pages' table lets too many through at 1 %: of those that keep it, any (stricter on the tie)
    text = suggest_calibration(tables, 0.01, "reg/docclassifier.yaml")
    assert text.startswith("suggestion: keep the default, calibration: any;")
    text = suggest_calibration(tables, 0.005, "reg/docclassifier.yaml")
    assert "none of the model's tables keeps the target 0.005" in text and "lets 0.010 of the unknown" in text


def test_margin_flags_at_most_the_target_share_of_right_answers():
    gaps = np.linspace(0.01, 0.20, 20)  # 0.01, 0.02, ..., 0.20
    m = margin_for(gaps, 0.1)  # two of twenty may be flagged (gap < margin)
    assert (gaps < m).sum() == 2 and m == pytest.approx(0.03)
    assert margin_for(gaps, 0.0) == pytest.approx(0.01) and (gaps < 0.01).sum() == 0
    assert margin_for(np.array([]), 0.05) == 0.0


@pytest.fixture()
def folders(tmp_path):
    docs = SyntheticDocuments(10, 2, seed=515, long_side=160, family_size=1, fonts="builtin")
    register, known, unknown = tmp_path / "register", tmp_path / "known", tmp_path / "unknown"
    for c in range(10):
        first, second = docs.load(2 * c)[0], docs.load(2 * c + 1)[0]
        if c < 6:  # six registered types, a photo of another instance of each
            register.mkdir(exist_ok=True)
            first.save(register / f"type{c}.png")
            (known / f"type{c}").mkdir(parents=True)
            photo_of(second, seed=c).save(known / f"type{c}" / "1.jpg")
        else:  # four documents that are not registered
            unknown.mkdir(exist_ok=True)
            photo_of(second, seed=c).save(unknown / f"doc{c}.jpg")
    return register, known, unknown


def _cli(*args):
    cmd = [sys.executable, str(ROOT / "calibrate.py"), *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_cli_reports_rates_and_writes_the_settings_infer_then_uses(tiny_export, folders):
    _, model = tiny_export
    register, known, unknown = folders
    args = ["--model", model, "--register", register, "--known", known, "--unknown", unknown, "--fpr", "0.25"]
    (register / "docclassifier.yaml").write_text("calibration: any  # what the register holds: kept\n")
    proc = _cli(*args, "--json", "--write")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["known"], report["known_types"], report["unknown"], report["register_size"]) == (6, 6, 4, 6)
    calibrated = report["calibrated"]
    # at most one of the four unknown documents (a quarter) passes the calibrated threshold
    assert calibrated["unknown_rejected"]["rate"] >= 0.75 and calibrated["unknown_rejected"]["of"] == 4
    lo, hi = calibrated["overall"]["interval"]
    assert 0 <= lo <= calibrated["overall"]["rate"] <= hi <= 1
    assert report["current"]["source"] == "the model's recorded threshold"
    assert report["written"] == str(register / "docclassifier.yaml")
    assert load_settings(register / "docclassifier.yaml").calibration == "any"

    clf = infer.DocClassifier(model, register, cache=False)
    policy = clf.policy()
    assert policy.source == str(register / "docclassifier.yaml")
    assert policy.threshold == pytest.approx(calibrated["threshold"], abs=1e-6)
    assert policy.margin == pytest.approx(calibrated["margin"], abs=1e-6)
    # what calibrate.py said is what infer.py does on those photos
    best = [clf.top_k(p, 1)[0][1] for p in sorted(unknown.glob("*.jpg"))]
    assert np.mean([b < policy.threshold for b in best]) == pytest.approx(calibrated["unknown_rejected"]["rate"])

    proc = _cli(*args)  # plain text; now the written settings are the policy in force
    assert proc.returncode == 0, proc.stderr
    assert "unknown documents rejected" in proc.stdout and "in force now: threshold" in proc.stdout


def test_bad_folders_are_one_line(tiny_export, folders, tmp_path):
    _, model = tiny_export
    register, known, unknown = folders
    proc = _cli("--model", model, "--register", register, "--known", tmp_path / "nope", "--unknown", unknown)
    assert proc.returncode == 2 and proc.stderr.strip() == f"calibrate.py: error: {tmp_path / 'nope'}: folder not found"
    other = tmp_path / "other"
    (other / "not_a_type").mkdir(parents=True)
    Image.new("RGB", (64, 64), "white").save(other / "not_a_type" / "a.png")
    proc = _cli("--model", model, "--register", register, "--known", other, "--unknown", unknown)
    assert proc.returncode == 2
    assert f"warning: {other / 'not_a_type'}: 'not_a_type' is not a registered type; skipped" in proc.stderr
    last = proc.stderr.splitlines()[-1]  # after the warnings (the tiny model finds all six types alike)
    assert last.startswith("calibrate.py: error: ") and "no photos in folders named after registered types" in last
    proc = _cli("--model", model, "--register", register, "--known", known, "--unknown", unknown, "--fpr", "1.5")
    assert proc.returncode == 2 and "--fpr must be in [0, 1), got 1.5" in proc.stderr
