"""eval.py on a generated evaluation folder: ONNX model and checkpoint agree; output is complete."""

import json
import subprocess
import sys

import pytest
from PIL import Image

import eval as evaluate
from conftest import ROOT
from data.samples import write_eval_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eval_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("evalset")
    # Distinct designs in the built-in font: the same pictures on every machine, and a set the
    # shipped model must get right whatever it makes of look-alike siblings.
    write_eval_set(folder, 8, photos_per_type=2, unknown_types=2, long_side=192, family_size=1, fonts="builtin")
    return folder


def test_cli_prints_table_and_writes_json(eval_set, tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "eval.py", "--model", "assets/model.onnx", "--data", str(eval_set), "--out", str(out)]
        + ["--plots", str(tmp_path / "plots")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "top-1" in proc.stdout and "1e-03" in proc.stdout and "ms per query" in proc.stdout
    result = json.loads(out.read_text())
    assert (result["num_types"], result["num_queries"], result["num_unknown_queries"]) == (8, 16, 4)
    assert [p["target_fpr"] for p in result["points"]] == [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert result["threshold_source"] == "model" and result["ms_per_query"] > 0
    assert result["top1"] >= 0.9  # the shipped model on held-out types
    assert result["plots"] == [str(tmp_path / "plots" / "roc.png"), str(tmp_path / "plots" / "scores.png")]
    for png in result["plots"]:
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] >= 600


def test_checkpoint_and_its_export_give_the_same_evaluation(eval_set, tiny_export):
    ckpt, model = tiny_export
    quiet = lambda m: None  # noqa: E731
    from_onnx, _ = evaluate.run_eval(evaluate.onnx_embedder(str(model)), eval_set, 0.9, warn=quiet)
    from_ckpt, _ = evaluate.run_eval(evaluate.checkpoint_embedder(str(ckpt)), eval_set, 0.9, warn=quiet)
    assert from_onnx["top1"] == from_ckpt["top1"]
    assert from_onnx["auc"] == pytest.approx(from_ckpt["auc"], abs=1e-3)


def test_bad_data_folder_is_one_line_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "eval.py", "--model", "assets/model.onnx", "--data", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"eval.py: error: {tmp_path}: expected register/ and queries/<type>/ inside"


def test_an_unreadable_query_is_skipped_with_the_checks_on(eval_set, tmp_path):
    """One broken query file: a warning naming it, and the checks re-score the others (they used to
    be handed every query, the broken one too, and fail on the mismatch)."""
    import shutil

    import infer

    data = shutil.copytree(eval_set, tmp_path / "set")
    folder = sorted(p for p in (data / "queries").iterdir() if p.is_dir())[0]
    (folder / "broken.jpg").write_bytes(b"not a picture")
    warnings = []
    scored = evaluate.score_eval_set(
        evaluate.onnx_embedder(str(infer.DEFAULT_MODEL)),
        data,
        warn=warnings.append,
        palette=infer.PaletteCheck(margin=1.0),
        header=infer.HeaderCheck(margin=1.0),
    )
    assert len(scored.truth) == 20 and scored.scores.shape[0] == 20  # 8 × 2 known + 2 × 2 unknown
    assert any("broken.jpg" in w for w in warnings)
