"""The synthetic document generator: look-alike families, real words, installed fonts."""

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from data.fonts import BUILTIN, RESERVED, discover_families, font_families
from data.synthetic import CHOICES, ELEMENTS, KINDS, RELATIONS, Design, family_member, new_design, render


def _differing(a: Design, b: Design) -> set[str]:
    return {f.name for f in dataclasses.fields(Design) if getattr(a, f.name) != getattr(b, f.name)}


def test_siblings_differ_from_their_family_s_first_design_in_exactly_the_attributes_named():
    seen = set()
    for family in range(60):
        base, relation, changed = family_member(3, family * 4, 4)
        assert relation == "base" and changed == ()
        for member in range(1, 4):
            design, relation, changed = family_member(3, family * 4 + member, 4)
            seen.add(relation)
            assert design.kind == base.kind  # a family is one kind of document
            assert _differing(design, base) == set(changed), (relation, changed)
            if relation == "revise":  # one or two of the layout elements this kind draws
                assert 1 <= len(changed) <= 2 and set(changed) <= set(ELEMENTS[base.kind])
            elif relation == "fresh":  # a new design: layout, palette, issuer, logo all new
                assert {"layout", "palette", "issuer", "logo"} <= set(changed)
            else:
                assert set(changed) == set(RELATIONS[relation][1])
    assert seen == set(RELATIONS)
    # Families are deterministic, and family_size 1 makes every class its own design.
    assert family_member(3, 9, 4) == family_member(3, 9, 4)
    assert family_member(3, 1, 1)[1] == "base"


def test_every_layout_element_a_kind_lists_changes_its_picture_and_no_other_does():
    """A revision is visible (its element is drawn) and touches only what it names."""
    rng = np.random.default_rng(11)
    for kind in KINDS:
        for _ in range(3):  # a few designs: some variants coincide on one design, not on all
            base = new_design(rng, kind)
            picture = np.asarray(render(base, [5], 192, "builtin"), np.int16)
            for name, n in CHOICES.items():
                value = (getattr(base, name) + 1) % n if n else getattr(base, name) ^ 12345
                other = np.asarray(render(dataclasses.replace(base, **{name: value}), [5], 192, "builtin"), np.int16)
                changed = np.abs(other - picture).max(axis=2) > 0
                if name not in ELEMENTS[kind]:
                    assert not changed.any(), (kind, name)
                else:
                    assert changed.mean() > 0.002, (kind, name)  # a visible change
        # Content changes the picture, the design does not.
        a, b = render(base, [1], 192, "builtin"), render(base, [2], 192, "builtin")
        assert a.size == b.size and a.tobytes() != b.tobytes()


def test_pages_are_mostly_white_paper_with_dark_ink():
    rng = np.random.default_rng(5)
    papers = [new_design(rng, kind).palette for kind in ("invoice", "letter", "form", "statement") for _ in range(50)]
    white = [min(p.paper) >= 225 and max(p.paper) - min(p.paper) <= 15 for p in papers]
    assert np.mean(white) > 0.75
    assert np.mean([sum(p.ink) < 200 for p in papers]) > 0.9


def test_text_is_real_words_in_installed_fonts_or_the_built_in_one():
    families = font_families("auto")
    assert families  # never empty: the built-in font is the fallback
    assert not any(RESERVED.search(f.name) or RESERVED.search(f.regular) for f in families)
    design = family_member(0, 0, 4)[0]
    a, b = render(design, [1], 384, "auto"), render(design, [1], 384, "builtin")
    assert a.size == b.size
    if families[0] is not BUILTIN:
        assert a.tobytes() != b.tobytes()  # another typeface


def test_font_discovery_without_fonts_falls_back_to_the_built_in_font(tmp_path):
    assert discover_families((str(tmp_path),)) == []
    assert font_families(str(tmp_path)) == (BUILTIN,)
    assert font_families("builtin") == (BUILTIN,)
    with pytest.raises(ValueError, match="nowhere"):
        font_families(str(tmp_path / "nowhere"))


def _installed(pattern: str) -> Path | None:
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
        found = sorted(Path(root).rglob(pattern)) if Path(root).is_dir() else []
        if found:
            return found[0]
    return None


def test_font_discovery_keeps_evaluation_fonts_out_and_finds_the_others(tmp_path):
    reserved = _installed("DejaVuSans.ttf") or _installed("LiberationSans-Regular.ttf")
    other = next((f for f in font_families("auto") if f is not BUILTIN), None)
    if reserved is None or other is None:
        pytest.skip("needs a reserved font (fonts-dejavu-core or fonts-liberation2) and one other TrueType font")
    # A reserved face under another file name is still recognised by its family name.
    shutil.copy(reserved, tmp_path / "renamed.ttf")
    shutil.copy(other.regular, tmp_path / Path(other.regular).name)
    found = discover_families((str(tmp_path),))
    assert [f.name for f in found] == [other.name]
    assert found[0].regular.endswith(Path(other.regular).name)
