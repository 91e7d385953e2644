"""The shipped default model and sample register do their job on a fresh clone."""

import json
import subprocess
import sys

import pytest

import infer
from conftest import ROOT
from data.photo import photo_of
from data.samples import SAMPLE_FONTS, SAMPLE_SEED, sample_class_ids
from data.synthetic import SyntheticDocuments

pytestmark = pytest.mark.slow


def test_shipped_model_metadata():
    model = infer.OnnxModel(infer.DEFAULT_MODEL)
    assert model.meta["config"] == "lcnet050_cosface_96" and model.embed_dim == 128
    assert model.threshold is not None and 0.5 < model.threshold < 1.0


def test_photos_of_registered_types_match_their_type_and_a_new_type_is_unknown(tmp_path):
    import shutil

    register = tmp_path / "register"
    shutil.copytree(infer.DEFAULT_REGISTER, register)
    clf = infer.DocClassifier(register=register)
    registered, unregistered_id = sample_class_ids(len(clf.labels))
    docs = SyntheticDocuments(unregistered_id + 1, 2, seed=SAMPLE_SEED, long_side=384, fonts=SAMPLE_FONTS)
    for name in clf.labels:
        class_id = int(name.rsplit("_", 1)[1]) - 1  # register/<kind>_<class id + 1>.png
        assert class_id in registered
        # Another instance of the type (other content), photographed: warped, blurred, JPEG'd.
        photo = photo_of(docs.load(2 * class_id + 1)[0], seed=100 + class_id)
        assert clf.top_k(photo, 1)[0][0] == name
    unregistered = photo_of(docs.load(2 * unregistered_id)[0], seed=99)
    assert clf.classify(unregistered)[0] is None


def test_cli_on_built_in_defaults():
    proc = subprocess.run(
        [sys.executable, "infer.py", "examples/photo_of_form_9.jpg", "examples/unregistered_document.png", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    first, second = doc["results"]
    # A label (not unknown): the score reached the threshold of the policy for this register.
    assert first["label"] == "form_9" and first["score"] >= doc["threshold"]
    assert second["label"] is None
