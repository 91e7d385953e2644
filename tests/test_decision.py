"""The decision policy in infer.py: thresholds by register size from the model's table, --fpr,
close calls, look-alike warnings and the register's settings file."""

import json
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest
from PIL import Image

import infer
from conftest import ROOT
from data import SyntheticDocuments
from data.photo import photo_of
from policy import DecisionTable, RegisterSettings, load_settings, tables_from_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def table_model(tiny_export, tmp_path_factory):
    """The tiny model exported with a decision table calibrated on 40 held-out types."""
    import export_onnx

    ckpt, _ = tiny_export
    out = tmp_path_factory.mktemp("table_model") / "tiny_table.onnx"
    assert export_onnx.main(["--ckpt", str(ckpt), "--out", str(out), "--policy-types", "40"]) == 0
    return out


def _table(model) -> DecisionTable:
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    return DecisionTable.from_json(meta["decision_table"])


def _tables(model) -> dict[str, DecisionTable]:
    meta = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    return tables_from_json(meta["decision_tables"])


@pytest.fixture(scope="module")
def pages_model(table_model, tmp_path_factory):
    """The table model recalibrated with a pool of 12 PDF pages beside its 12 templates."""
    import export_onnx

    folder = tmp_path_factory.mktemp("pages_pool")
    docs = SyntheticDocuments(12, 1, seed=4242, long_side=240)
    pages = [docs.load(c)[0].convert("RGB") for c in range(12)]
    for i in range(3):  # three files of four pages
        pages[4 * i].save(folder / f"doc{i}.pdf", save_all=True, append_images=pages[4 * i + 1 : 4 * i + 4])
    out = folder / "tiny_pages.onnx"
    args = ["--recalibrate", str(table_model), "--out", str(out), "--policy-types", "12", "--policy-pdf-root"]
    assert export_onnx.main([*args, str(folder)]) == 0
    return out


def _register(folder, n, seed=7):
    folder.mkdir(parents=True, exist_ok=True)
    docs = SyntheticDocuments(n, 1, seed=seed, long_side=160)
    for c in range(n):
        docs.load(c)[0].save(folder / f"type{c}.png")
    return folder


def _cli(*args):
    cmd = [sys.executable, str(ROOT / "infer.py"), *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_export_records_a_table_that_rises_with_the_register(table_model):
    table = _table(table_model)
    assert table.sizes == (1, 2, 5, 10, 20)  # a pool of 40 types fills registers up to 39
    row = table.thresholds[table.fprs.index(0.02)]
    assert list(row) == sorted(row) and 0 < row[0] <= row[-1] <= 1
    assert "40 held-out synthetic templates" in table.data


def test_recalibrate_rewrites_only_the_table_and_matches_the_export(table_model, tmp_path):
    """export_onnx.py --recalibrate: the table calibrated afresh with onnxruntime, no checkpoint."""
    import export_onnx

    out = tmp_path / "recalibrated.onnx"
    assert export_onnx.main(["--recalibrate", str(table_model), "--out", str(out), "--policy-types", "40"]) == 0
    before, after = onnx.load(str(table_model)), onnx.load(str(out))
    assert before.graph == after.graph
    meta_before = {p.key: p.value for p in before.metadata_props}
    meta_after = {p.key: p.value for p in after.metadata_props}
    assert meta_before.keys() == meta_after.keys()
    assert all(meta_before[k] == meta_after[k] for k in meta_before if k not in ("decision_table", "decision_tables"))
    # The same pool, embedded by onnxruntime instead of PyTorch: the same table, to within the export's parity
    # (thresholds and margins are scores of the pool, which the two runtimes give to within 1e-4).
    ours, exported = _table(out), _table(table_model)
    assert ours.sizes == exported.sizes and ours.fprs == exported.fprs and ours.data == exported.data
    assert np.allclose(ours.thresholds, exported.thresholds, atol=1e-4, rtol=0)
    assert np.allclose(ours.margins, exported.margins, atol=1e-4, rtol=0)
    smaller = tmp_path / "smaller.onnx"
    assert export_onnx.main(["--recalibrate", str(out), "--out", str(smaller), "--policy-types", "12"]) == 0
    assert _table(smaller).sizes == (1, 2, 5, 10) and "12 held-out synthetic templates" in _table(smaller).data
    cmd = [sys.executable, str(ROOT / "export_onnx.py"), "--recalibrate", str(tmp_path / "none.onnx")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "none.onnx" in proc.stderr


def test_threshold_follows_the_register_size_and_fpr(table_model, tmp_path):
    table = _table(table_model)
    small = infer.DocClassifier(table_model, _register(tmp_path / "small", 2), cache=False)
    large = infer.DocClassifier(table_model, _register(tmp_path / "large", 12), cache=False)
    assert small.policy().size == 2 and large.policy().size == 12
    assert small.threshold == pytest.approx(table.threshold(2, 0.02))
    assert large.threshold == pytest.approx(table.threshold(12, 0.02))
    assert large.policy().margin == pytest.approx(table.margin(12))
    strict = infer.DocClassifier(table_model, tmp_path / "large", cache=False, fpr=0.001)
    assert strict.threshold == pytest.approx(table.threshold(12, 0.001)) and strict.policy().fpr == 0.001
    large.unregister("type0")  # the register shrinks: so does the threshold's register size
    assert large.policy().size == 11 and large.threshold == pytest.approx(table.threshold(11, 0.02))
    assert infer.DocClassifier(table_model, tmp_path / "large", cache=False, threshold=0.5).threshold == 0.5
    # the policy is kept between queries, and worked out again when what it depends on changes
    assert large.policy() is large.policy()
    large.threshold = 0.6
    assert large.policy().threshold == 0.6 and large.policy().source == "given"
    large.threshold = None
    large.settings = RegisterSettings(margin=0.03)
    assert large.policy().margin == 0.03 and large.threshold == pytest.approx(table.threshold(11, 0.02))

    proc = _cli(tmp_path / "large" / "type1.png", "--model", table_model, "--register", tmp_path / "large", "--json")
    doc = json.loads(proc.stdout)
    assert doc["policy"]["register_size"] == 12 and doc["policy"]["fpr"] == 0.02
    assert doc["threshold"] == pytest.approx(table.threshold(12, 0.02), abs=1e-6)
    proc = _cli(
        tmp_path / "large" / "type1.png", "--model", table_model, "--register", tmp_path / "large", "--fpr", "0.5"
    )
    assert proc.returncode == 2 and "outside the calibrated" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_close_calls_name_both_candidates_in_plain_and_json(table_model, tmp_path):
    folder = _register(tmp_path / "reg", 3)
    query = folder / "type1.png"
    # a margin of 1 makes every accepted answer a close call; 0 none
    proc = _cli(query, "--model", table_model, "--register", folder, "--threshold", "0", "--margin", "1", "--json")
    result = json.loads(proc.stdout)["results"][0]
    assert result["label"] == "type1" and result["ambiguous"] is True
    first, second = result["candidates"]
    assert first["label"] == "type1" and second["label"] != "type1" and second["score"] <= first["score"]
    proc = _cli(query, "--model", table_model, "--register", folder, "--threshold", "0", "--margin", "1")
    assert proc.stdout.strip().endswith(f"(or: {second['label']} {second['score']:.3f})")
    proc = _cli(query, "--model", table_model, "--register", folder, "--threshold", "0", "--margin", "0", "--json")
    result = json.loads(proc.stdout)["results"][0]
    assert result["ambiguous"] is False and "candidates" not in result


def test_near_duplicate_types_are_warned_with_both_names(table_model, tmp_path, monkeypatch):
    monkeypatch.setattr(infer, "LOOK_ALIKE_BLOCK", 3)  # a score block of one example row at a time
    folder = _register(tmp_path / "reg", 3)
    shutil.copy(folder / "type2.png", folder / "type2_copy.png")
    warnings = []
    clf = infer.DocClassifier(table_model, folder, cache=False, warn=warnings.append)
    assert [p[:2] for p in clf.look_alikes()] == [("type2", "type2_copy")]
    assert clf.look_alikes()[0][2] == pytest.approx(1.0, abs=1e-5)
    assert len(warnings) == 1 and "type2 and type2_copy look alike" in warnings[0]
    everything = clf.look_alikes()
    for label in ("type0", "type2_copy"):  # one type's pairs: its examples against the whole bank
        assert clf.look_alikes([label]) == [p for p in everything if label in p[:2]]
    # registering another copy in memory warns about the pair it makes
    clf.register("type0_again", folder / "type0.png")
    assert "type0 and type0_again look alike" in warnings[-1]
    proc = _cli(folder / "type1.png", "--model", table_model, "--register", folder, "--json")
    assert {tuple(p["types"]) for p in json.loads(proc.stdout)["look_alikes"]} == {("type2", "type2_copy")}
    assert "type2 and type2_copy look alike" in proc.stderr  # the cache was written now: warned once
    proc = _cli(folder / "type1.png", "--model", table_model, "--register", folder)
    assert "look alike" not in proc.stderr  # unchanged register: not again


def test_settings_file_thresholds_and_overrides(table_model, tmp_path):
    folder = _register(tmp_path / "reg", 3)
    photo = photo_of(Image.open(folder / "type1.png").convert("RGB"), seed=1)
    label, score = infer.DocClassifier(table_model, folder, cache=False).top_k(photo, 1)[0]
    assert score < 1.0
    other = next(t for t in ("type0", "type1", "type2") if t != label)
    settings = folder / "docclassifier.yaml"
    settings.write_text(f"threshold: 0.3\nmargin: 0.0\ntypes:\n  {label}: {{threshold: {(score + 1) / 2!r}}}\n")
    clf = infer.DocClassifier(table_model, folder, cache=False)
    policy = clf.policy()
    assert (policy.threshold, policy.margin, policy.source) == (0.3, 0.0, str(settings))
    assert clf.classify(folder / f"{other}.png")[0] == other  # the register's threshold
    assert clf.classify(photo) == (None, pytest.approx(score))  # its type's own, stricter one
    assert infer.DocClassifier(table_model, folder, cache=False, threshold=0.95).threshold == 0.95  # given wins
    given = infer.DocClassifier(table_model, folder, cache=False, fpr=0.01).policy()  # a given target too
    assert given.threshold == pytest.approx(_table(table_model).threshold(3, 0.01)) and given.fpr == 0.01

    settings.write_text("fpr: 0.001\n")
    assert infer.DocClassifier(table_model, folder, cache=False).threshold == pytest.approx(
        _table(table_model).threshold(3, 0.001)
    )


def test_each_kind_of_register_gets_its_own_table_and_any_the_strictest(table_model, pages_model, tmp_path):
    """The model keeps a table per kind of register it was calibrated for; a register declares its
    kind (calibration: in its settings file, or --calibration), and one that declares none gets the
    stricter of them at every point."""
    tables = _tables(pages_model)
    assert set(tables) == {"forms", "pages"} and set(_tables(table_model)) == {"forms"}
    strict, forms, pages = _table(pages_model), tables["forms"], tables["pages"]
    assert "12 held-out synthetic templates and 12 held-out PDF pages" in strict.data
    assert "PDF pages" in pages.data and "PDF pages" not in forms.data
    assert strict.sizes == forms.sizes == pages.sizes == (1, 2, 5, 10)
    assert np.array_equal(strict.thresholds, np.maximum(forms.thresholds, pages.thresholds))
    assert np.array_equal(strict.margins, np.minimum(forms.margins, pages.margins))
    assert not np.array_equal(forms.thresholds, pages.thresholds)  # two pools, two tables

    folder = _register(tmp_path / "reg", 4)
    settings = folder / "docclassifier.yaml"
    for kind, table in (("any", strict), ("forms", forms), ("pages", pages)):
        settings.write_text(f"calibration: {kind}\nfpr: 0.05\n")
        policy = infer.DocClassifier(pages_model, folder, cache=False).policy()
        assert policy.threshold == pytest.approx(table.threshold(4, 0.05))
        assert policy.margin == pytest.approx(table.margin(4)) and policy.calibration == kind
    given = infer.DocClassifier(pages_model, folder, cache=False, calibration="forms")  # given wins
    assert given.threshold == pytest.approx(forms.threshold(4, 0.05))
    settings.unlink()
    assert infer.DocClassifier(pages_model, folder, cache=False).threshold == pytest.approx(strict.threshold(4, 0.02))

    proc = _cli(folder / "type1.png", "--model", pages_model, "--register", folder, "--calibration", "pages", "--json")
    doc = json.loads(proc.stdout)
    assert doc["policy"]["calibration"] == "pages" and doc["threshold"] == pytest.approx(pages.threshold(4, 0.02))
    assert "registers of pages" in doc["policy"]["source"]
    proc = _cli(folder / "type1.png", "--model", pages_model, "--register", folder, "--threshold", "0.5", "--json")
    assert json.loads(proc.stdout)["policy"]["calibration"] == "any"  # the margin is still the table's

    # A model calibrated without pages (no --policy-pdf-root) cannot serve a register of pages: said at once.
    settings.write_text("calibration: pages\n")
    proc = _cli(folder / "type1.png", "--model", table_model, "--register", folder)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert (
        f"no decision table for registers of pages ({settings}: calibration; the model has: any, forms)" in proc.stderr
    )
    assert "--recalibrate" in proc.stderr
    with pytest.raises(infer.InferError, match="registers of pages \\(given"):
        infer.DocClassifier(table_model, None, calibration="pages")
    with pytest.raises(infer.InferError, match="calibration must be one of any, forms, pages, not 'page'"):
        infer.DocClassifier(table_model, None, calibration="page")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("calibration: page\n", "calibration: expected one of any, forms, pages, got 'page'"),
        ("calibration: [pages]\n", "calibration: expected one of any, forms, pages, got ['pages']"),
        ("threshold: 2\n", "threshold: must be in [0, 1], got 2"),
        ("fpr: zero\n", "fpr: expected a number, got 'zero'"),
        ("margins: 0.1\n", "margins: unknown setting"),
        ("types:\n  type1: 0.9\n", "types.type1: expected {threshold: NUMBER}, got 0.9"),
        ("types:\n  type1: {threshold: -1}\n", "types.type1.threshold: must be in [0, 1], got -1"),
        ("threshold: [\n", "not valid YAML at line"),
    ],
)
def test_bad_settings_are_one_line_naming_file_and_key(table_model, tmp_path, text, message):
    folder = _register(tmp_path / "reg", 2)
    (folder / "docclassifier.yaml").write_text(text)
    proc = _cli(folder / "type0.png", "--model", table_model, "--register", folder)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"infer.py: error: {folder / 'docclassifier.yaml'}: ")
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_policy_options_are_one_line(table_model, tmp_path):
    folder = _register(tmp_path / "reg", 2)
    for args, message in (
        (["--threshold", "5"], "threshold must be in [0, 1], got 5"),
        (["--margin", "-0.1"], "margin must be in [0, 1], got -0.1"),
        (["--fpr", "0"], "fpr must be in (0, 1), got 0"),
        (["--top-k", "-3"], "--top-k must be 1 or more, got -3"),
        (["--threshold", "0.5", "--fpr", "0.01"], "give --threshold or --fpr, not both"),
    ):
        proc = _cli(folder / "type0.png", "--model", table_model, "--register", folder, *args)
        assert proc.returncode == 2 and message in proc.stderr, (args, proc.stderr)
    assert np.isfinite(infer.DocClassifier(table_model, folder, cache=False).threshold)


def test_eval_reports_decisions_by_register_size(table_model, pages_model, tmp_path):
    from data.samples import write_eval_set

    folder = tmp_path / "evalset"
    write_eval_set(folder, 12, photos_per_type=1, unknown_types=2, long_side=160, family_size=1, fonts="builtin")
    out = tmp_path / "r.json"

    def run(model, *args):
        cmd = [sys.executable, "eval.py", "--model", str(model), "--data", str(folder), "--out", str(out), *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)

    proc = run(table_model, "--fpr", "0.05")
    assert proc.returncode == 0, proc.stderr
    assert (
        "decisions at the model's policy for any register (0.05 of unknown documents accepted, relaxed where the"
        in (proc.stdout)
    )
    assert "registers of 100, 1000 types need a set with as many" in proc.stdout
    policy = json.loads(out.read_text())["policy"]
    (row,) = policy["sizes"]
    table = _table(table_model)
    assert policy["calibration"] == "any"
    assert row["size"] == 10 and row["threshold"] == pytest.approx(table.threshold(10, 0.05))
    assert row["known_queries"] == 10 and row["unknown_queries"] == 2 + 2  # 2 undrawn types, 2 unregistered
    for key in ("right_accepted", "known_accuracy", "unknown_rejected", "overall"):
        lo, hi = row["intervals"][key]
        assert 0 <= lo <= row[key] <= hi <= 1

    # --calibration: the model's table for that kind of register, as a register's settings file declares it
    proc = run(pages_model, "--calibration", "pages", "--no-palette", "--no-header-check")
    assert proc.returncode == 0, proc.stderr
    assert "decisions at the model's policy for registers of pages (0.02" in proc.stdout
    policy = json.loads(out.read_text())["policy"]
    assert policy["calibration"] == "pages"
    assert policy["sizes"][0]["threshold"] == pytest.approx(_tables(pages_model)["pages"].threshold(10, 0.02))
    proc = run(table_model, "--calibration", "pages")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "tiny_table: no decision table for registers of pages (given; the model has: any, forms)" in proc.stderr


def test_the_register_relaxes_the_table_by_its_own_examples_seen_as_photos(table_model, tmp_path, monkeypatch):
    """Self-calibration: each registered example seen as a photo (infer.register_view) is scored as
    a query against the other types; at 10 % of 20 types (two views) the lower of the table's and
    the register's own threshold decides, unless turned off; eval.py draws the same decision."""
    import eval as eval_py
    from data.samples import write_eval_set
    from policy import own_threshold

    folder = tmp_path / "evalset"
    write_eval_set(folder, 20, photos_per_type=1, unknown_types=2, long_side=160, family_size=1, fonts="builtin")
    table_at = _table(table_model).threshold(20, 0.1)
    c = infer.DocClassifier(table_model, folder / "register", cache=False, fpr=0.1)
    own = c.own_scores()
    names = c._grouped_bank()[2]
    assert own.shape == (20,) and np.isfinite(own).all()
    for j in (0, 7, 19):  # a view's score is what a query of it gets from the best other type
        view = infer.register_view(
            infer.open_image(folder / "register" / f"{names[j]}.png", c.model.decode_size), names[j]
        )
        top = c.top_k(view, k=20)
        assert own[j] == pytest.approx(max(s for label, s in top if label != names[j]), abs=1e-5)
    mine = own_threshold(own, 0.1)
    assert mine is not None and c.threshold == pytest.approx(min(mine, table_at))
    assert ("own examples seen as photos" in c.policy().source) == (mine < table_at)
    assert c.own_scores() is own  # kept until the register changes
    c.add_embeddings(["no_picture"], c.embed(view))  # a type with an embedding and no picture
    assert len(c.own_scores()) == 21 and c.own_scores()[c._grouped_bank()[2].index("no_picture")] == -np.inf
    c.unregister("no_picture")
    assert np.array_equal(c.own_scores(), own)  # the same register, the same views

    # the register cache keeps them while the register folder, the model and the checks stay the same
    first = infer.DocClassifier(table_model, folder / "register", fpr=0.1)
    assert np.array_equal(first.own_scores(), own)

    drawn = []
    real_view = infer.register_view
    with monkeypatch.context() as m:
        m.setattr(infer, "register_view", lambda picture, label: drawn.append(label) or real_view(picture, label))
        again = infer.DocClassifier(table_model, folder / "register", fpr=0.1)
        assert np.array_equal(again.own_scores(), own) and again.threshold == c.threshold and drawn == []
        # in memory, a register that grows draws only its new examples' views (the look-alike check
        # of the new type needs the new threshold)
        c.register("extra", folder / "register" / f"{names[0]}.png")
        assert drawn == ["extra"] and len(c.own_scores()) == 21
        assert c.own_scores()[c._grouped_bank()[2].index("extra")] > 0.9  # its twin, names[0], is registered
        c.unregister("extra")
        assert np.array_equal(c.own_scores(), own) and drawn == ["extra"]
        # the register cache keeps each file's view too: a classifier rebuilt on a changed folder
        # (serve.py's, on every change) draws only the new file's, and scores as if it drew all
        shutil.copy(folder / "register" / f"{names[0]}.png", folder / "register" / "copy.png")
        changed = infer.DocClassifier(table_model, folder / "register", fpr=0.1)
        assert len(changed.own_scores()) == 21 and drawn == ["extra", "copy"]
        assert changed.own_scores()[changed._grouped_bank()[2].index("copy")] > 0.9
        uncached = infer.DocClassifier(table_model, folder / "register", cache=False, fpr=0.1)
        assert np.array_equal(uncached.own_scores(), changed.own_scores()) and len(drawn) == 2 + 21
        # views read for other checks are not taken from the cache
        del drawn[:]
        infer.DocClassifier(table_model, folder / "register", fpr=0.1, palette=False).own_scores()
        assert len(drawn) == 21
    (folder / "register" / "copy.png").unlink()
    (folder / "register" / infer.CACHE_NAME).unlink()

    off = infer.DocClassifier(table_model, folder / "register", cache=False, fpr=0.1, self_calibration=False)
    assert off.threshold == pytest.approx(table_at) and off.policy().source.startswith("the model's table")
    (folder / "register" / "docclassifier.yaml").write_text("self_calibration: false\n")
    assert infer.DocClassifier(table_model, folder / "register", cache=False, fpr=0.1).threshold == pytest.approx(
        table_at
    )
    # eval.py: the register of all 20 types, one draw, both checks: infer.py's threshold; off as
    # the settings say.
    (folder / "register" / "docclassifier.yaml").unlink()
    embedder = eval_py.onnx_embedder(str(table_model))
    checks = {"palette": infer.PaletteCheck(), "header": infer.HeaderCheck()}
    result, _ = eval_py.run_eval(embedder, folder, None, fpr=0.1, sizes=(20,), warn=print, **checks)
    assert result["policy"]["self_calibration"] is True
    assert result["policy"]["sizes"][0]["threshold"] == pytest.approx(c.threshold, abs=1e-5)
    scored = eval_py.score_eval_set(embedder, folder, warn=print, views=True, **checks)
    mine = dict(zip(names, c.own_scores().tolist(), strict=True))
    assert scored.own.max(1) == pytest.approx([mine[t] for t in scored.types], abs=1e-5)  # every view, not one
    (folder / "register" / "docclassifier.yaml").write_text("self_calibration: false\n")
    settings = load_settings(folder / "register" / "docclassifier.yaml")
    result, _ = eval_py.run_eval(embedder, folder, None, fpr=0.1, sizes=(20,), warn=print, settings=settings, **checks)
    assert result["policy"]["self_calibration"] is False
    assert result["policy"]["sizes"][0]["threshold"] == pytest.approx(table_at)
    # a threshold fixed in the settings: no view is drawn, since none could count
    (folder / "register" / "docclassifier.yaml").write_text("threshold: 0.9\n")
    settings = load_settings(folder / "register" / "docclassifier.yaml")
    del drawn[:]
    monkeypatch.setattr(
        eval_py, "register_view", lambda picture, label: drawn.append(label) or real_view(picture, label)
    )
    result, _ = eval_py.run_eval(embedder, folder, None, sizes=(20,), warn=print, settings=settings, **checks)
    assert result["policy"]["sizes"][0]["threshold"] == 0.9 and drawn == []
    result, _ = eval_py.run_eval(embedder, folder, None, fpr=0.1, sizes=(20,), warn=print, settings=settings, **checks)
    assert result["policy"]["self_calibration"] is True and len(drawn) == 20  # a given target wins over it


def test_eval_decides_as_the_sets_register_settings_say(table_model, pages_model, tmp_path, capsys):
    """eval.py's decisions by register size are infer.py's for the set's register: its settings file
    (calibration, fpr, a fixed threshold, per-type thresholds) applies unless --no-settings."""
    import eval as evaluate
    from data.samples import write_eval_set

    folder = tmp_path / "evalset"
    write_eval_set(folder, 12, photos_per_type=1, unknown_types=2, long_side=160, family_size=1, fonts="builtin")
    settings, out = folder / "register" / "docclassifier.yaml", tmp_path / "r.json"
    names = sorted(p.stem for p in (folder / "register").iterdir() if p.suffix == ".png")
    assert len(names) == 12

    def run(model, *args):
        capsys.readouterr()
        code = evaluate.main(["--model", str(model), "--data", str(folder), "--out", str(out), *args])
        printed = capsys.readouterr()
        return code, printed.out, printed.err, json.loads(out.read_text())["policy"] if code == 0 else None

    checks = ("--no-palette", "--no-header-check")
    settings.write_text("calibration: pages\nfpr: 0.05\n")
    code, printed, _, policy = run(pages_model, *checks)
    assert code == 0 and "decisions at the model's policy for registers of pages (0.05 of unknown" in printed
    assert policy["calibration"] == "pages" and policy["fpr"] == 0.05 and policy["settings"] == str(settings)
    (row,) = policy["sizes"]
    assert row["threshold"] == pytest.approx(_tables(pages_model)["pages"].threshold(10, 0.05))
    code, printed, _, policy = run(pages_model, *checks, "--fpr", "0.1", "--calibration", "forms")  # given wins
    assert code == 0 and (policy["calibration"], policy["fpr"]) == ("forms", 0.1)
    assert policy["sizes"][0]["threshold"] == pytest.approx(_tables(pages_model)["forms"].threshold(10, 0.1))
    code, _, _, policy = run(pages_model, *checks, "--no-settings")
    assert code == 0 and (policy["calibration"], policy["fpr"], policy["settings"]) == ("any", 0.02, None)

    # a fixed threshold: 1.0 accepts nothing; per-type thresholds of 0 for every type accept every best type
    settings.write_text("threshold: 1.0\n")
    code, printed, _, policy = run(table_model, *checks)
    (row,) = policy["sizes"]
    assert code == 0 and f"decisions at the threshold 1 of {settings}" in printed and policy["fpr"] is None
    assert (row["threshold"], row["right_accepted"], row["unknown_rejected"]) == (1.0, 0.0, 1.0)
    per_type = "".join(f"  {n}: {{threshold: 0.0}}\n" for n in [*names, "not_in_the_set"])
    settings.write_text("threshold: 1.0\ntypes:\n" + per_type)
    code, printed, err, policy = run(table_model, *checks)
    (row,) = policy["sizes"]
    assert code == 0 and f"and the 13 per-type thresholds of {settings}" in printed
    assert f"warning: {settings}: types.not_in_the_set: no such type in the register (1 such)" in err
    assert (row["right_accepted"], row["unknown_rejected"]) == (1.0, 0.0)

    # a bad file, and a kind the model has no table for: one line naming the file and the key
    settings.write_text("fpr: 2\n")
    code, _, err, _ = run(table_model)
    assert code == 2 and err.strip() == f"eval.py: error: {settings}: fpr: must be in (0, 1], got 2"
    settings.write_text("calibration: pages\n")
    code, _, err, _ = run(table_model)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"no decision table for registers of pages ({settings}: calibration; the model has: any, forms)" in err


def test_calibrate_shows_what_each_of_the_models_tables_gives(pages_model, tmp_path):
    """calibrate.py on the user's own photos: beside the calibrated threshold, what each of the
    model's tables (one per kind of register) would decide at the target, so the kind a register
    declares can be checked against its own documents."""
    import calibrate

    folder = _register(tmp_path / "reg", 4)
    known, unknown = tmp_path / "known", tmp_path / "unknown"
    for c in range(4):
        (known / f"type{c}").mkdir(parents=True)
        photo_of(Image.open(folder / f"type{c}.png").convert("RGB"), seed=c).save(known / f"type{c}" / "p.jpg")
    unknown.mkdir()
    others = SyntheticDocuments(3, 1, seed=99, long_side=160)
    for c in range(3):
        photo_of(others.load(c)[0].convert("RGB"), seed=10 + c).save(unknown / f"other{c}.jpg")
    clf = infer.DocClassifier(pages_model, folder, cache=False)
    report = calibrate.calibrate(clf, known, unknown, 0.05, 0.05, warn=print)
    tables, strict = _tables(pages_model), _table(pages_model)
    assert list(report["tables"]) == ["any", "forms", "pages"]
    for kind, table in (("any", strict), ("forms", tables["forms"]), ("pages", tables["pages"])):
        row = report["tables"][kind]
        assert row["threshold"] == pytest.approx(table.threshold(4, 0.05)) and row["margin"] == table.margin(4)
        best = np.array([clf.top_k(p, 1)[0][1] for p in sorted(unknown.glob("*.jpg"))])
        assert row["unknown_rejected"]["rate"] == pytest.approx(np.mean(best < row["threshold"]), abs=1e-9)
    # "any" is the stricter at every point: it never rejects fewer unknown documents than either
    rejected = {kind: row["unknown_rejected"]["rate"] for kind, row in report["tables"].items()}
    assert rejected["any"] >= max(rejected["forms"], rejected["pages"])
    text = calibrate.format_report(report)
    assert "the model's table for registers of pages: threshold" in text
    assert "the model's table for any register: threshold" in text
    wide = calibrate.calibrate(clf, known, unknown, 0.25, 0.05, warn=print)  # a target beyond the tables
    assert wide["tables"] == {} and any("outside the calibrated" in n for n in wide["notes"])
