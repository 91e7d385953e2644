"""TrueType / OpenType font families installed on this machine, for the synthetic documents.

Real documents are set in many typefaces; a model trained on one learns that typeface. The
generator draws each design's heading and body faces from the families found here at run time
(Debian's ``fonts-*`` packages put them under /usr/share/fonts; TeX's under /usr/share/texmf).
With none installed it falls back to Pillow's built-in scalable font, so training and tests work
on a bare machine too (with one face).

DejaVu, Liberation (and the Chrome OS core fonts it was drawn from: Arimo, Tinos, Cousine), Carlito
and Open Sans are never used: they are kept for evaluation sets, so that a test can show documents
set in faces training never saw.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "/usr/share/texmf/fonts/opentype",
    "~/.local/share/fonts",
    "~/.fonts",
)
RESERVED = re.compile(r"dejavu|liberation|arimo|tinos|cousine|carlito|open[ _-]?sans", re.IGNORECASE)
# Faces that do not set running Latin text: mathematics, symbols, pictographs, decorations.
NOT_TEXT = re.compile(r"math|symbol|dingbat|emoji|icon|ornament|braille|awesome|cursor|z003|d050000l", re.IGNORECASE)
# Faces by preference: the upright regular face of a family, then its bold one; light, hairline,
# italic and display weights are left out (a document's body text is rarely set in them).
REGULAR = ("regular", "roman", "book", "normal", "medium")
BOLD = ("bold", "semibold", "demibold", "demi", "extrabold", "black", "heavy")
SLANTED = re.compile(r"italic|oblique|slanted|keyboard|chorus", re.IGNORECASE)


@dataclass(frozen=True)
class FontFamily:
    """One typeface: its upright regular face and, where installed, its upright bold face."""

    name: str
    regular: str
    bold: str | None


BUILTIN = FontFamily("Pillow built-in (Aileron)", "", None)


def _sets_latin_text(font: ImageFont.FreeTypeFont) -> bool:
    """A face missing Latin letters draws one .notdef box for each: distinct letters look alike."""
    seen = set()
    for ch in "aeRg5":
        box = font.getbbox(ch)
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            return False
        mask = Image.new("L", (box[2] + 2, box[3] + 2))
        ImageDraw.Draw(mask).text((0, 0), ch, fill=255, font=font)
        seen.add(mask.tobytes())
    return len(seen) == 5


def discover_families(dirs: tuple[str, ...] = FONT_DIRS) -> list[FontFamily]:
    """Text families under ``dirs`` (``.ttf``/``.otf``, searched recursively), reserved ones left out,
    sorted by name so that the same installed fonts give the same list on every machine."""
    faces: dict[str, dict[str, tuple[int, str]]] = {}
    for root in dirs:
        root_path = Path(os.path.expanduser(root))
        if not root_path.is_dir():
            continue
        for path in sorted(root_path.rglob("*")):
            if path.suffix.lower() not in (".ttf", ".otf") or RESERVED.search(str(path)) or NOT_TEXT.search(path.name):
                continue
            try:
                font = ImageFont.truetype(str(path), 24)
                family, style = font.getname()
            except OSError:  # unreadable or not a font
                continue
            family, style = family or path.stem, re.sub(r"^\d+\s*", "", (style or "regular").lower())
            if RESERVED.search(family) or NOT_TEXT.search(family) or SLANTED.search(family) or SLANTED.search(style):
                continue
            for weight, names in (("regular", REGULAR), ("bold", BOLD)):
                rank = names.index(style) if style in names else None
                best = faces.get(family, {}).get(weight)
                if rank is not None and (best is None or rank < best[0]) and _sets_latin_text(font):
                    faces.setdefault(family, {})[weight] = (rank, str(path))
    faces = {name: {w: path for w, (_, path) in f.items()} for name, f in faces.items()}
    return [FontFamily(name, f["regular"], f.get("bold")) for name, f in sorted(faces.items()) if "regular" in f]


@functools.lru_cache(maxsize=4)
def font_families(spec: str = "auto") -> tuple[FontFamily, ...]:
    """``auto``: the installed families (Pillow's built-in font if there are none); ``builtin``: the
    built-in font only; anything else: a folder to search instead of the system's font folders."""
    if spec == "builtin":
        return (BUILTIN,)
    if spec != "auto" and not Path(spec).is_dir():
        raise ValueError(f"fonts: {spec} is neither 'auto', 'builtin' nor a folder")
    found = discover_families(FONT_DIRS if spec == "auto" else (spec,))
    return tuple(found) or (BUILTIN,)


@functools.lru_cache(maxsize=2048)
def load_face(family: FontFamily, bold: bool, size: int) -> ImageFont.FreeTypeFont:
    """The family's face at ``size`` pixels; bold falls back to the regular face (drawn with a
    stroke by the caller) when the family has no bold face installed."""
    size = max(4, size)
    path = family.bold if bold and family.bold else family.regular
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size=size)
