"""bench/lookalike_set.py: a look-alike evaluation set drawn by its own code, not the training generator."""

import ast
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from bench import lookalike_set as ls
from conftest import ROOT

pytestmark = pytest.mark.skipif(
    not ls.typefaces(), reason=f"evaluation fonts not installed (apt-get install {ls.FONT_PACKAGES})"
)
FACES = sorted(ls.typefaces())


def _families(n: int = 20, siblings: int = 7):
    return [ls.make_family(ls.LOOKALIKE_SEED, f, siblings, FACES) for f in range(n)]


def test_siblings_differ_in_exactly_what_their_relation_names():
    for family in _families():
        base = family[0].design
        assert family[0].relation == "base" and family[0].changed == ()
        assert len({s.design for s in family}) == len(family)  # no two types share a design
        for sib in family[1:]:
            changed = ls.design_changes(base, sib.design)
            assert changed == sib.changed, (sib.relation, changed, sib.changed)
            assert sib.design.kind == base.kind
            if sib.relation == "rebrand":
                assert set(changed) == set(ls.REBRAND_CHANGES)
            elif sib.relation == "variant":
                assert 1 <= len(changed) <= 2 and set(changed) <= set(ls.LAYOUT_ELEMENTS)
            else:
                assert sib.relation == "fresh"
                assert {"issuer", "palette"} <= set(changed)


def test_families_are_deterministic_and_cover_the_kinds():
    assert _families(3) == _families(3)
    assert {f[0].design.kind for f in _families(len(ls.KINDS), 1)} == set(ls.KINDS)


def test_every_change_shows_and_instances_differ_in_content():
    """A sibling drawn with the same content as its base must look different (else two types would
    be one picture), and two instances of one type must differ in content but not in layout."""
    for f, family in enumerate(_families(10, 4)):
        base = np.asarray(ls.render(family[0].design, [1, f], 256), np.float32)
        for sib in family[1:]:
            other = np.asarray(ls.render(sib.design, [1, f], 256), np.float32)
            assert other.shape != base.shape or np.abs(other - base).mean() > 0.02, (f, sib.relation, sib.changed)
        again = np.asarray(ls.render(family[0].design, [1, f], 256), np.float32)
        assert np.array_equal(base, again)
        second = np.asarray(ls.render(family[0].design, [2, f], 256), np.float32)
        assert second.shape == base.shape and np.abs(second - base).mean() > 0.2


def test_only_evaluation_fonts_and_no_training_code(monkeypatch):
    def no_default_font(*args, **kwargs):
        raise AssertionError("Pillow's built-in font is the training font")

    monkeypatch.setattr(ImageFont, "load_default", no_default_font)
    for family in _families(len(ls.KINDS), 4):
        for i, sib in enumerate(family):
            ls.render(sib.design, [3, i], 200)
    allowed = {name for trio in ls.FONT_FILES.values() for name in trio}
    assert ls.FONTS_USED and {p.name for p in ls.FONTS_USED} <= allowed
    assert len({p.name for p in ls.FONTS_USED}) >= 6  # several families and weights
    tree = ast.parse((ROOT / "bench" / "lookalike_set.py").read_text())
    imported = {
        getattr(node, "module", None) or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in imported if m and m.startswith(("data.synthetic", "data.transforms", "data.samples"))}


def _tiny_pdfs(root):
    """Three PDFs: one in a publishers' package, two manuals of several pages each."""
    rng = np.random.default_rng(0)

    def page(seed_text: str) -> Image.Image:
        im = Image.new("RGB", (150, 212), "white")
        draw = ImageDraw.Draw(im)
        y = 10
        while y < 200:
            w = int(rng.integers(40, 130))
            draw.rectangle((10, y, 10 + w, y + int(rng.integers(3, 9))), fill=(20, 20, 20))
            y += int(rng.integers(8, 20))
        draw.text((10, 2), seed_text, fill="black")
        return im

    for folder, name, pages in (("texlive-publishers-doc", "article", 2), ("manuals", "a", 5), ("manuals", "b", 4)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        ims = [page(f"{name}{i}") for i in range(pages)]
        ims[0].save(root / folder / f"{name}.pdf", save_all=True, append_images=ims[1:])


def test_writes_the_eval_folder_layout(tmp_path):
    pytest.importorskip("pypdfium2")
    from eval import load_eval_set

    _tiny_pdfs(tmp_path / "pdfs")
    out = tmp_path / "la"
    entries = ls.write_lookalike_set(
        out,
        tmp_path / "pdfs",
        families=3,
        siblings=4,
        pages=3,
        template_queries=2,
        page_queries=1,
        unknown_share=0.25,
        long_side=160,
        progress=False,
    )
    templates, pages = out / "la_templates", out / "la_pages"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["name"] for e in manifest["types"]] == [e.name for e in entries]
    assert sum(e.part == "templates" for e in entries) == 12 and sum(e.part == "pages" for e in entries) == 3
    unregistered = [e for e in entries if not e.registered]
    assert len(unregistered) == 3 + 1  # a quarter of each part
    for e in entries:
        part = templates if e.part == "templates" else pages
        queries = sorted((part / "queries" / e.name).glob("*.jpg"))
        assert len(queries) == e.queries == (2 if e.part == "templates" else 1)
        assert (part / "register" / f"{e.name}.png").is_file() == e.registered
        assert (out / "register" / f"{e.name}.png").is_file() == e.registered
        assert sorted(p.name for p in (out / "queries" / e.name).iterdir()) == [p.name for p in queries]
        for q in queries:
            with Image.open(q) as im:
                assert 160 - 96 <= max(im.size) <= 160 and im.mode == "RGB"
        if e.registered:
            with Image.open(part / "register" / f"{e.name}.png") as im:
                assert max(im.size) == 160
    # an unregistered sibling of a family that stays registered: the hardest unknown
    families = {e.group for e in entries if e.part == "templates" and e.registered}
    assert any(e.group in families for e in unregistered if e.part == "templates")
    for folder in (out, templates, pages):
        types, register, queries = load_eval_set(folder, warn=print)
        assert register and queries and any(t < 0 for t, _ in queries)
    assert (out / "overview.png").is_file()


def test_missing_fonts_is_a_one_line_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(ls, "typefaces", lambda: {})
    assert ls.main(["--out", str(tmp_path / "x"), "--families", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install fonts-dejavu-core" in err
