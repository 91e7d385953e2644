"""Synthetic document types rendered in memory, so training needs no data on disk.

A class is a *design*: a kind of document (ID card, driving licence, passport page, bank card,
invoice, receipt, form, letter, certificate, statement, ticket, shipping label) with its own palette, issuer, logo,
typefaces and layout. Each instance of the class fills that design with other content: names,
addresses, amounts, dates, table rows, photo, signature, stamps. The model learns "same design,
other content", which is what matching against a register needs.

What users register are often look-alikes: two vendors' invoices from one accounting package, one
form in two editions, the ID cards of two regions. So designs come in *families* of
``family_size`` siblings, each sibling its own class, derived from the family's first design by one
relation (``RELATIONS``):

- ``rebrand``: the same layout in another palette, with another issuer name and logo;
- ``rename``: the same layout and palette, another issuer name and logo;
- ``revise``: the same palette and style, one or two layout elements changed (``ELEMENTS``: header,
  logo side, photo side, field style, table columns, footer, stripes);
- ``fresh``: an unrelated design of the same kind.

A ``Design`` holds every attribute explicitly, so a sibling differs from its family's first design in
exactly the attributes its relation names (tests check this), and each attribute drives the drawing
through its own random stream: changing the table columns moves nothing else.

Text is real words and plausible values (data/words.py) set in TrueType families found on the
machine (data/fonts.py; Pillow's built-in font when none is installed); most pages are white or
near-white with black text, thin rules and ruled tables, as real documents are.

Everything is a pure function of (seed, class id, instance, epoch) and the installed fonts, so
DataLoader workers render on the fly and every run on one machine sees the same images.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from data import words
from data.fonts import FontFamily, font_families, load_face

# kind → (aspect ratio width/height, share of designs)
KINDS: dict[str, tuple[float, float]] = {
    "id_card": (1.586, 0.12),
    "licence": (1.586, 0.07),
    "bank_card": (1.586, 0.05),
    "passport": (1.42, 0.06),
    "certificate": (1.414, 0.08),
    "invoice": (0.707, 0.16),
    "letter": (0.707, 0.12),
    "form": (0.707, 0.13),
    "statement": (0.707, 0.10),
    "receipt": (0.42, 0.11),
    "ticket": (2.4, 0.07),
    "shipping_label": (0.66, 0.06),
}
_NAMES = list(KINDS)
_SHARES = np.array([share for _, share in KINDS.values()])
_SHARES = _SHARES / _SHARES.sum()
_PAGES = ("invoice", "letter", "form", "statement")
_WHITE = (*_PAGES, "receipt", "shipping_label")  # mostly white paper, plain background

# Layout elements, each an int: a variant number, a side (0 left, 1 right), or a seed (table).
CHOICES = {"header": 4, "logo_side": 2, "photo_side": 2, "fields": 4, "footer": 4, "stripes": 4, "table": 0}
# The elements each kind draws (a revision changes only these).
ELEMENTS: dict[str, tuple[str, ...]] = {
    "id_card": ("header", "logo_side", "photo_side", "fields", "stripes"),
    "licence": ("header", "logo_side", "photo_side", "fields", "stripes"),
    "passport": ("header", "logo_side", "photo_side", "fields"),
    "bank_card": ("header", "logo_side", "stripes"),
    "certificate": ("header", "logo_side", "footer", "stripes"),
    "invoice": ("header", "logo_side", "fields", "table", "footer", "stripes"),
    "letter": ("header", "logo_side", "fields", "footer", "stripes"),
    "form": ("header", "logo_side", "fields", "footer", "stripes"),
    "statement": ("header", "logo_side", "fields", "table", "footer", "stripes"),
    "receipt": ("header", "logo_side", "table", "footer"),
    "ticket": ("header", "logo_side", "fields", "footer", "stripes"),
    "shipping_label": ("header", "logo_side", "fields", "footer", "stripes"),
}
# relation → (share of siblings, the attributes it changes; None: layout elements / everything)
RELATIONS: dict[str, tuple[float, tuple[str, ...] | None]] = {
    "rebrand": (0.30, ("palette", "issuer", "logo")),
    "rename": (0.15, ("issuer", "logo")),
    "revise": (0.40, None),
    "fresh": (0.15, None),
}

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    paper: RGB
    ink: RGB
    accent: RGB
    accent2: RGB
    background: str  # plain, gradient, guilloche, waves, dots
    pattern: int  # seed of the background's pattern


@dataclass(frozen=True)
class Typeface:
    heading: int  # index into the font families (modulo their number)
    body: int
    label_case: str  # upper, title
    bold_labels: bool
    size: float  # scale of all type sizes


@dataclass(frozen=True)
class Design:
    """What is fixed for a document type."""

    kind: str
    aspect: float
    palette: Palette
    issuer: str
    logo: int  # seed of the emblem
    typeface: Typeface
    header: int
    logo_side: int
    photo_side: int
    fields: int
    table: int
    footer: int
    stripes: int
    layout: int  # seed of everything else: block positions, labels, title


def _rgb(h: float, s: float, v: float) -> RGB:
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def _palette(rng: np.random.Generator, kind: str) -> Palette:
    r = rng.random()
    if kind == "bank_card":
        paper = _rgb(rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.15, 0.75))
    elif kind in _WHITE:
        # Mostly white or near-white paper, as real documents are; now and then a tint.
        tint = rng.uniform(0, 0.04) if r < 0.8 else rng.uniform(0.04, 0.15)
        paper = _rgb(rng.random(), tint, rng.uniform(0.95, 1.0))
    else:  # cards, passports, certificates: often tinted security paper
        paper = _rgb(rng.random(), rng.uniform(0, 0.05) if r < 0.35 else rng.uniform(0.05, 0.3), rng.uniform(0.85, 1))
    dark = kind == "bank_card" and sum(paper) < 400
    r = rng.random()
    ink = (
        _rgb(0, 0, rng.uniform(0.9, 1.0))
        if dark
        else _rgb(rng.random(), 0, rng.uniform(0, 0.2))
        if r < 0.75
        else _rgb(rng.uniform(0.55, 0.7) if r < 0.9 else rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.15, 0.4))
    )
    hue = rng.random()
    accent = _rgb(hue, rng.uniform(0.45, 1.0), rng.uniform(0.3, 0.85))
    accent2 = _rgb(hue + rng.uniform(0.15, 0.85), rng.uniform(0.3, 1.0), rng.uniform(0.4, 0.95))
    if kind in _WHITE:
        background = "plain" if rng.random() < 0.9 else str(rng.choice(["gradient", "dots", "waves"]))
    else:
        background = str(rng.choice(["plain", "gradient", "guilloche", "waves", "dots"], p=[0.2, 0.2, 0.3, 0.2, 0.1]))
    return Palette(paper, ink, accent, accent2, background, int(rng.integers(1 << 31)))


def _typeface(rng: np.random.Generator) -> Typeface:
    heading = int(rng.integers(1 << 16))
    body = heading if rng.random() < 0.4 else int(rng.integers(1 << 16))
    case = "upper" if rng.random() < 0.4 else "title"
    return Typeface(heading, body, case, bool(rng.random() < 0.5), float(rng.uniform(0.85, 1.2)))


def _issuer(rng: np.random.Generator, kind: str) -> str:
    authority = kind in ("id_card", "licence", "passport") or (kind == "certificate" and rng.random() < 0.4)
    return words.authority(rng) if authority else words.organisation(rng)


def new_design(rng: np.random.Generator, kind: str | None = None) -> Design:
    """A design drawn from ``rng``; of ``kind`` if given."""
    if kind is None:
        kind = _NAMES[int(rng.choice(len(_NAMES), p=_SHARES))]
    aspect = KINDS[kind][0] * float(rng.uniform(0.96, 1.04))
    if kind == "receipt":
        aspect = float(rng.uniform(0.3, 0.55))
    elif kind in _PAGES and rng.random() < 0.1:
        aspect = 1 / aspect  # a landscape page now and then
    elements = {name: int(rng.integers(n)) if n else int(rng.integers(1 << 31)) for name, n in CHOICES.items()}
    return Design(
        kind=kind,
        aspect=aspect,
        palette=_palette(rng, kind),
        issuer=_issuer(rng, kind),
        logo=int(rng.integers(1 << 31)),
        typeface=_typeface(rng),
        layout=int(rng.integers(1 << 31)),
        **elements,
    )


def derive(base: Design, relation: str, rng: np.random.Generator) -> tuple[Design, tuple[str, ...]]:
    """A sibling of ``base`` by ``relation``, and the attributes in which it differs from ``base``."""
    if relation == "fresh":
        design = new_design(rng, base.kind)
        while design.issuer == base.issuer:  # another organisation's design, never the same one's
            design = dataclasses.replace(design, issuer=_issuer(rng, base.kind))
        return design, tuple(
            f.name for f in dataclasses.fields(Design) if getattr(design, f.name) != getattr(base, f.name)
        )
    if relation == "revise":
        options = ELEMENTS[base.kind]
        changed = tuple(sorted(rng.choice(options, int(rng.integers(1, 3)), replace=False).tolist()))
        new = {}
        for name in changed:
            n, old = CHOICES[name], getattr(base, name)
            new[name] = (old + int(rng.integers(1, n))) % n if n else int(old ^ int(rng.integers(1, 1 << 31)))
        return dataclasses.replace(base, **new), changed
    changed = RELATIONS[relation][1]
    new = {}
    if "palette" in changed:
        new["palette"] = _palette(rng, base.kind)
    if "issuer" in changed:
        issuer = base.issuer
        while issuer == base.issuer:
            issuer = _issuer(rng, base.kind)
        new["issuer"] = issuer
    if "logo" in changed:
        new["logo"] = int(base.logo ^ int(rng.integers(1, 1 << 31)))
    return dataclasses.replace(base, **new), tuple(sorted(changed))


def family_member(seed: int, class_id: int, family_size: int = 1) -> tuple[Design, str, tuple[str, ...]]:
    """Class ``class_id``'s design, its relation to its family's first design (``base`` for that
    one) and the attributes that differ: classes ``f * family_size ... (f + 1) * family_size - 1``
    form family ``f``."""
    family, member = divmod(class_id, max(1, family_size))
    base = new_design(np.random.default_rng([seed, family, 0x7E]))
    if member == 0:
        return base, "base", ()
    rng = np.random.default_rng([seed, family, member, 0x51B])
    shares = np.array([share for share, _ in RELATIONS.values()])
    relation = list(RELATIONS)[int(rng.choice(len(RELATIONS), p=shares / shares.sum()))]
    design, changed = derive(base, relation, rng)
    return design, relation, changed


def make_template(seed: int, class_id: int, family_size: int = 1) -> Design:
    return family_member(seed, class_id, family_size)[0]


def _stream(*key: int | str) -> np.random.Generator:
    """A random stream of its own for one attribute, so that changing one moves nothing else."""
    return np.random.default_rng([k if isinstance(k, int) else zlib.crc32(k.encode()) for k in key])


class Canvas:
    """A page of ``w`` × ``h`` pixels with drawing helpers in page fractions (0–1)."""

    def __init__(self, w: int, h: int, design: Design, fonts: tuple[FontFamily, ...]):
        self.w, self.h = w, h
        self.image = Image.new("RGB", (w, h), design.palette.paper)
        self.draw = ImageDraw.Draw(self.image)
        tf = design.typeface
        self.faces = {"heading": fonts[tf.heading % len(fonts)], "body": fonts[tf.body % len(fonts)]}
        self.scale = tf.size

    def px(self, x: float, y: float) -> tuple[float, float]:
        return x * self.w, y * self.h

    def box(self, x0, y0, x1, y1) -> list[float]:
        return [x0 * self.w, y0 * self.h, x1 * self.w, y1 * self.h]

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width: int = 1) -> None:
        if x1 > x0 and y1 > y0:
            self.draw.rectangle(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=width)

    def line(self, x0, y0, x1, y1, fill, width: int = 1) -> None:
        self.draw.line(self.box(x0, y0, x1, y1), fill=fill, width=width)

    def hairline(self) -> int:
        return max(1, round(self.h / 400))

    def text(
        self,
        x: float,
        y: float,
        s: str,
        height: float,
        fill,
        face: str = "body",
        bold: bool = False,
        anchor: str = "la",
        max_w: float | None = None,
    ) -> float:
        """``s`` with its cap height about ``height`` of the page; shrunk, then cut, to ``max_w``.
        Returns the width drawn (page fraction)."""
        if not s:
            return 0.0
        size = height * self.h * self.scale
        if size < 3.5:  # below legibility: a grey bar of the same extent, as a downsampled line looks
            length = min(len(s) * size * 0.5 / self.w, max_w or 1.0)
            x0 = x - length / 2 if anchor[0] == "m" else x - length if anchor[0] == "r" else x
            tone = tuple(int(v * 0.6 + p * 0.4) for v, p in zip(fill, self.image.getpixel((0, 0)), strict=True))
            self.rect(x0, y + height * 0.25, x0 + length, y + height * 0.8, fill=tone)
            return length
        family = self.faces[face]
        font = load_face(family, bold, round(size * 1.35))
        width = font.getlength(s) / self.w
        if max_w is not None and width > max_w:
            shrink = max(0.7, max_w / width)
            font = load_face(family, bold, max(4, round(size * 1.35 * shrink)))
            width = font.getlength(s) / self.w
            if width > max_w:
                s = s[: max(1, int(len(s) * max_w / width))]
                width = max_w
        fake_bold = bold and family.bold is None and size >= 9
        self.draw.text(self.px(x, y), s, fill=fill, font=font, anchor=anchor, stroke_width=int(fake_bold))
        return width

    def paragraph(
        self, x0, x1, y, lines: int, height: float, rng: np.random.Generator, fill, gap: float = 1.6
    ) -> float:
        """``lines`` lines of running text, the last one ragged. Returns the y below it."""
        per_line = max(4, int((x1 - x0) * self.w / max(1.0, height * self.h * self.scale * 0.75)))
        for i in range(lines):
            n = per_line if i < lines - 1 else int(per_line * rng.uniform(0.3, 0.9))
            text = ""
            while len(text) < n:
                text += words.pick(rng, words.SENTENCE_WORDS) + " "
            self.text(x0, y, text[:n].rstrip(), height, fill, max_w=x1 - x0)
            y += height * gap
        return y


# ----------------------------------------------------------------------------- shared elements


def _background(c: Canvas, p: Palette) -> None:
    rng = _stream(p.pattern, "background")
    if p.background == "gradient":
        a, b = np.array(p.paper, float), np.array(_rgb(rng.random(), rng.uniform(0.05, 0.3), 0.95), float)
        horizontal = bool(rng.random() < 0.5)
        t = np.linspace(0, 1, c.w if horizontal else c.h)[:, None]
        ramp = (a * (1 - t) + b * t).astype(np.uint8)
        arr = np.repeat(ramp[None], c.h, 0) if horizontal else np.repeat(ramp[:, None], c.w, 1)
        c.image.paste(Image.fromarray(arr))
    elif p.background == "guilloche":
        tone = tuple(int(v * 0.35 + q * 0.65) for v, q in zip(p.accent2, p.paper, strict=True))
        cx, cy = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))
        r0, k, petals = float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.2, 0.5)), int(rng.integers(5, 17))
        t = np.linspace(0, 2 * math.pi, 240)
        for j in range(int(rng.integers(6, 14))):
            r = r0 * (1 + k * np.sin(petals * t + j * 0.4)) * (0.6 + 0.04 * j)
            pts = list(zip((cx + r * np.cos(t) / max(c.w / c.h, 1)) * c.w, (cy + r * np.sin(t)) * c.h, strict=True))
            c.draw.line(pts, fill=tone, width=1)
    elif p.background == "waves":
        tone = tuple(int(v * 0.25 + q * 0.75) for v, q in zip(p.accent2, p.paper, strict=True))
        amp, freq, step = float(rng.uniform(0.01, 0.05)), float(rng.uniform(2, 9)), float(rng.uniform(0.03, 0.08))
        xs = np.linspace(0, 1, 120)
        for y in np.arange(0, 1 + step, step):
            ys = y + amp * np.sin(freq * 2 * math.pi * xs + y * 7)
            c.draw.line(list(zip(xs * c.w, ys * c.h, strict=True)), fill=tone, width=1)
    elif p.background == "dots":
        tone = tuple(int(v * 0.2 + q * 0.8) for v, q in zip(p.accent2, p.paper, strict=True))
        step = float(rng.uniform(0.03, 0.07))
        for x in np.arange(0, 1, step):
            for y in np.arange(0, 1, step * c.w / c.h):
                c.rect(x, y, x + 0.006, y + 0.006 * c.w / c.h, fill=tone)


def _logo(c: Canvas, d: Design, x: float, y: float, size: float) -> float:
    """The design's emblem, ``size`` of the page height at (x, y); returns its width (page fraction)."""
    rng = _stream(d.logo, "logo")
    p = d.palette
    shape = str(rng.choice(["rings", "shield", "star", "monogram", "bars", "leaf"]))
    s = size * c.h
    x0, y0 = x * c.w, y * c.h
    colour = p.accent if rng.random() < 0.7 else p.accent2
    if shape == "rings":
        c.draw.ellipse([x0, y0, x0 + s, y0 + s], fill=colour)
        c.draw.ellipse([x0 + s * 0.55, y0, x0 + s * 1.55, y0 + s], outline=p.accent2, width=max(1, round(s / 8)))
        return s * 1.55 / c.w
    if shape == "shield":
        c.draw.polygon(
            [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s * 0.6), (x0 + s / 2, y0 + s), (x0, y0 + s * 0.6)], fill=colour
        )
        c.draw.rectangle([x0 + s * 0.4, y0 + s * 0.1, x0 + s * 0.6, y0 + s * 0.75], fill=p.paper)
    elif shape == "star":
        n = int(rng.integers(5, 9))
        pts = [
            (
                x0 + s / 2 + (s / 2 if i % 2 == 0 else s / 4.5) * math.cos(math.pi * i / n - math.pi / 2),
                y0 + s / 2 + (s / 2 if i % 2 == 0 else s / 4.5) * math.sin(math.pi * i / n - math.pi / 2),
            )
            for i in range(2 * n)
        ]
        c.draw.polygon(pts, fill=colour)
    elif shape == "monogram":
        if rng.random() < 0.5:
            c.draw.ellipse([x0, y0, x0 + s, y0 + s], fill=colour)
        else:
            c.draw.rectangle([x0, y0, x0 + s, y0 + s], fill=colour)
        letters = "".join(w[0] for w in d.issuer.split()[:2]).upper() or "A"
        c.text(x + size * c.h / c.w / 2, y + size * 0.2, letters, size * 0.45, p.paper, "heading", True, "ma")
    elif shape == "bars":
        for i in range(3):
            c.draw.rectangle(
                [x0, y0 + i * s * 0.36, x0 + s * (1 - 0.25 * i), y0 + i * s * 0.36 + s * 0.22], fill=colour
            )
    else:
        c.draw.pieslice([x0, y0, x0 + s * 2, y0 + s * 2], 180, 270, fill=colour)
        c.draw.pieslice([x0 - s, y0 - s, x0 + s, y0 + s], 0, 90, fill=p.accent2)
    return s / c.w


def _stamp(c: Canvas, rng: np.random.Generator) -> None:
    """A round rubber stamp at a place that differs per instance (content, not layout)."""
    x, y, r = float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.5, 0.85)), float(rng.uniform(0.05, 0.09))
    color = (int(rng.integers(120, 220)), 20, int(rng.integers(20, 160)))
    box = [x * c.w - r * c.h, y * c.h - r * c.h, x * c.w + r * c.h, y * c.h + r * c.h]
    c.draw.ellipse(box, outline=color, width=max(1, c.h // 150))
    c.text(
        x,
        y - r * 0.25,
        words.pick(rng, ("PAID", "RECEIVED", "COPY", "APPROVED", "BEZAHLT")),
        r * 0.4,
        color,
        "body",
        True,
        "ma",
    )


def _signature(c: Canvas, x0, y0, x1, y1, rng: np.random.Generator, ink) -> None:
    n = int(rng.integers(12, 30))
    xs = np.sort(rng.uniform(x0, x1, n))
    ys = rng.uniform(y0, y1, n)
    c.draw.line(list(zip(xs * c.w, ys * c.h, strict=True)), fill=ink, width=max(1, c.h // 300))


def _photo(c: Canvas, x0, y0, x1, y1, rng: np.random.Generator) -> None:
    """A portrait: the frame is the design's, the person (colours, proportions) the instance's."""
    x0p, y0p, x1p, y1p = (round(v) for v in c.box(x0, y0, x1, y1))
    w, h = x1p - x0p, y1p - y0p
    if w < 4 or h < 4:
        return
    photo = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(150, 245, 3)))
    d = ImageDraw.Draw(photo)
    skin, hair, cloth = (
        tuple(int(v) for v in rng.integers(lo, hi, 3)) for lo, hi in ((120, 240), (10, 120), (20, 200))
    )
    hw = float(rng.uniform(0.22, 0.32))
    d.ellipse([w * 0.1, h * 0.68, w * 0.9, h * 1.4], fill=cloth)
    d.ellipse([w * (0.46 - hw), h * 0.1, w * (0.54 + hw), h * 0.6], fill=hair)
    d.ellipse([w * (0.5 - hw), h * 0.18, w * (0.5 + hw), h * 0.72], fill=skin)
    c.image.paste(photo, (x0p, y0p))


def _barcode(c: Canvas, x0, y0, x1, y1, rng: np.random.Generator) -> None:
    x = x0
    while x < x1:
        bar = float(rng.uniform(0.5, 3.0)) / c.w
        if rng.random() < 0.5:
            c.rect(x, y0, min(x + bar, x1), y1, fill=(0, 0, 0))
        x += bar + 1 / c.w


def _qr(c: Canvas, x0, y0, size, rng: np.random.Generator) -> None:
    n = 15
    cell = size / n
    bits = rng.random((n, n)) < 0.5
    for i in range(n):
        for j in range(n):
            corner = (i < 4 and j < 4) or (i < 4 and j >= n - 4) or (i >= n - 4 and j < 4)
            if corner or bits[i, j]:
                c.rect(
                    x0 + j * cell * c.h / c.w,
                    y0 + i * cell,
                    x0 + (j + 1) * cell * c.h / c.w,
                    y0 + (i + 1) * cell,
                    fill=(0, 0, 0),
                )


def _label(text: str, case: str) -> str:
    return text.upper() if case == "upper" else text


def _labels(d: Design, n: int) -> list[str]:
    pool = words.LABELS[d.kind].split("|")
    rng = _stream(d.layout, "labels")
    return [_label(pool[int(i)], d.typeface.label_case) for i in rng.permutation(len(pool))[:n]] + [""] * max(
        0, n - len(pool)
    )


def _fields(
    c: Canvas, d: Design, x0, y0, x1, y1, labels: list[str], cols: int, rng: np.random.Generator, ink=None
) -> None:
    """Label/value pairs in the design's field style: labels and places fixed, values the instance's."""
    p, tf = d.palette, d.typeface
    ink = ink or p.ink
    rows = math.ceil(len(labels) / cols)
    row_h, col_w = (y1 - y0) / max(rows, 1), (x1 - x0) / cols
    label_colour = p.accent if sum(p.accent) < 500 and d.fields != 2 else ink
    lh = min(0.022, row_h * 0.3)
    for i, label in enumerate(labels):
        if not label:
            continue
        r, k = divmod(i, cols)
        x, y = x0 + k * col_w, y0 + r * row_h
        value = words.value_for(rng, label)
        vh = min(0.026, row_h * 0.38)
        if d.fields == 0:  # inline: "Label  value"
            c.text(x, y, label, lh, label_colour, bold=tf.bold_labels, max_w=col_w * 0.4)
            c.text(x + col_w * 0.42, y, value, vh, ink, max_w=col_w * 0.56)
        elif d.fields == 1:  # stacked: small label above its value
            c.text(x, y, label, lh * 0.8, label_colour, bold=tf.bold_labels, max_w=col_w * 0.95)
            c.text(x, y + lh * 1.2, value, vh, ink, max_w=col_w * 0.95)
        elif d.fields == 2:  # boxed: label in the corner of a framed cell
            c.rect(x, y, x + col_w * 0.96, y + row_h * 0.9, outline=p.accent, width=c.hairline())
            c.text(x + 0.008, y + row_h * 0.06, label, lh * 0.7, p.accent, bold=tf.bold_labels, max_w=col_w * 0.9)
            c.text(x + 0.012, y + row_h * 0.42, value, vh * 0.9, ink, max_w=col_w * 0.9)
        else:  # underlined: label, then the value written over a rule
            c.text(x, y, label, lh, label_colour, bold=tf.bold_labels, max_w=col_w * 0.35)
            c.line(x + col_w * 0.37, y + row_h * 0.55, x + col_w * 0.95, y + row_h * 0.55, ink, c.hairline())
            c.text(
                x + col_w * 0.39,
                y - vh * 0.1,
                value,
                vh,
                (25, 35, 120) if rng.random() < 0.5 else ink,
                max_w=col_w * 0.55,
            )


def _issuer_lines(d: Design) -> list[str]:
    rng = _stream(d.issuer)
    return [*words.address(rng), f"Tel. +{int(rng.integers(1, 99))} {words.digits(rng, 3)} {words.digits(rng, 6)}"]


def _letterhead(c: Canvas, d: Design, top: float) -> None:
    """The header of a page in the design's header variant, within [0, top)."""
    p = d.palette
    rng = _stream(d.layout, "header")
    right = d.logo_side == 1
    size = float(rng.uniform(0.045, 0.07))
    lines = _issuer_lines(d)
    if d.header == 0:  # logo at the side, name beside it, address under the name, a rule
        logo_w = size * c.h / c.w
        lx = 0.93 - logo_w if right else 0.07
        _logo(c, d, lx, 0.035, size)
        nx = 0.07 if right else 0.1 + logo_w
        c.text(nx, 0.04, d.issuer, size * 0.38, p.accent, "heading", True, max_w=0.6)
        for i, line in enumerate(lines[:2]):
            c.text(nx, 0.04 + size * 0.6 + i * 0.016, line, 0.011, p.ink, max_w=0.5)
        c.line(0.07, top - 0.015, 0.93, top - 0.015, p.accent, c.hairline())
    elif d.header == 1:  # a coloured band with the name in paper colour
        band = min(top - 0.03, float(rng.uniform(0.07, 0.1)))
        c.rect(0, 0, 1, band, fill=p.accent)
        logo_w = size * 0.8 * c.h / c.w
        _logo(c, d, 0.93 - logo_w if right else 0.05, band * 0.15, min(size * 0.8, band * 0.7))
        c.text(0.07 if right else 0.08 + logo_w, band * 0.3, d.issuer, band * 0.3, p.paper, "heading", True, max_w=0.65)
        c.text(
            0.93 if not right else 0.07,
            band + 0.01,
            " · ".join(lines[:2]),
            0.011,
            p.ink,
            anchor="ra" if not right else "la",
        )
    elif d.header == 2:  # centred name and address under it, logo in a top corner, double rule
        _logo(c, d, 0.93 - size * c.h / c.w if right else 0.07, 0.025, size)
        c.text(0.5, 0.03 + size + 0.005, d.issuer, size * 0.32, p.ink, "heading", True, "ma", max_w=0.8)
        c.text(0.5, 0.03 + size * 1.45 + 0.008, " · ".join(lines), 0.01, p.ink, anchor="ma", max_w=0.85)
        for dy in (0.0, 0.005):
            c.line(0.1, top - 0.015 + dy, 0.9, top - 0.015 + dy, p.accent, 1)
    else:  # large name on one side, contact block on the other
        nx, bx, anchor = (0.07, 0.93, "ra") if not right else (0.93, 0.07, "la")
        c.text(nx, 0.045, d.issuer, size * 0.5, p.accent, "heading", True, "la" if not right else "ra", max_w=0.55)
        _logo(c, d, bx - (size * 0.7 * c.h / c.w if not right else 0), 0.02, size * 0.7)
        for i, line in enumerate(lines):
            c.text(bx, 0.03 + size * 0.75 + i * 0.015, line, 0.01, p.ink, anchor=anchor)


def _stripes(c: Canvas, d: Design) -> None:
    p = d.palette
    if d.stripes == 1:  # a bar along the top edge
        c.rect(0, 0, 1, 0.012, fill=p.accent2)
    elif d.stripes == 2:  # a stripe down the left edge
        c.rect(0, 0, 0.025, 1, fill=p.accent2)
    elif d.stripes == 3:  # a band at the bottom and a hairline at the top
        c.rect(0, 0.985, 1, 1, fill=p.accent2)
        c.rect(0, 0.004, 1, 0.007, fill=p.accent)


def _footer(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    small = 0.0095
    fixed = _stream(d.layout, "footer")
    bank = f"IBAN {words.code(fixed, 2)}{words.digits(fixed, 18)} · BIC {words.code(fixed, 8)}"
    if d.footer == 1:
        c.line(0.07, 0.935, 0.93, 0.935, p.ink, 1)
        c.text(0.5, 0.942, f"{d.issuer} · {bank}", small, p.ink, anchor="ma", max_w=0.86)
    elif d.footer == 2:
        lines = _issuer_lines(d)
        for k, col in enumerate(([d.issuer, lines[0]], [lines[1], lines[2]], [bank[:22], bank[22:]])):
            for i, line in enumerate(col):
                c.text(0.07 + k * 0.3, 0.93 + i * 0.016, line, small, p.ink, max_w=0.28)
        c.text(0.93, 0.965, f"Page 1 of {int(rng.integers(1, 4))}", small, p.ink, anchor="ra")
    elif d.footer == 3:
        c.rect(0, 0.95, 1, 1, fill=p.accent)
        c.text(
            0.5,
            0.962,
            f"{d.issuer} · www.{d.issuer.split()[0].lower()}.com",
            small * 1.2,
            p.paper,
            anchor="ma",
            max_w=0.9,
        )


def _table(c: Canvas, d: Design, x0, x1, y0, y_max, rows: int, rng: np.random.Generator, columns: str) -> float:
    """A ruled table: columns, widths and rules are the design's (``d.table``), rows the instance's.
    Returns the y below it."""
    p = d.palette
    t = _stream(d.table, "table")
    pool = words.COLUMNS[columns].split("|")
    ncols = int(t.integers(3, min(6, len(pool)) + 1))
    names = [pool[int(i)] for i in sorted(t.choice(len(pool), ncols, replace=False))]
    widths = t.dirichlet(np.ones(ncols) * 3) * 0.5 + 0.5 / ncols
    edges = x0 + np.concatenate([[0], np.cumsum(widths)]) * (x1 - x0)
    head_style, body_style = int(t.integers(3)), int(t.integers(4))
    row_h = float(t.uniform(0.022, 0.032))
    size = row_h * 0.42
    head_ink = p.paper if head_style == 0 else p.ink
    if head_style == 0:
        c.rect(x0, y0, x1, y0 + row_h, fill=p.accent)
    elif head_style == 1:
        c.line(x0, y0 + row_h, x1, y0 + row_h, p.ink, c.hairline() + 1)
    else:
        c.rect(x0, y0, x1, y0 + row_h, fill=tuple(max(0, v - 25) for v in p.paper), outline=p.ink)
    for i, name in enumerate(names):
        c.text(
            edges[i] + 0.006,
            y0 + row_h * 0.25,
            _label(name, d.typeface.label_case),
            size,
            head_ink,
            bold=True,
            max_w=edges[i + 1] - edges[i] - 0.01,
        )
    y = y0 + row_h
    rows = min(rows, int((y_max - y) / row_h))
    for r in range(rows):
        if body_style == 1 and r % 2:
            c.rect(x0, y, x1, y + row_h, fill=tuple(max(0, v - 14) for v in p.paper))
        for i, name in enumerate(names):
            value = _cell(name, rng)
            right = value[:1].isdigit() and name not in ("Date", "Value date", "Pos.", "Item No.", "Code")
            cx = edges[i + 1] - 0.006 if right else edges[i] + 0.006
            c.text(
                cx,
                y + row_h * 0.28,
                value,
                size,
                p.ink,
                anchor="ra" if right else "la",
                max_w=edges[i + 1] - edges[i] - 0.01,
            )
        y += row_h
        if body_style == 2:
            c.line(x0, y, x1, y, tuple(int(v * 0.5 + 127) for v in p.ink), 1)
    if body_style == 0:  # full grid
        for x in edges:
            c.line(x, y0, x, y, p.ink, 1)
        for k in range(rows + 1):
            c.line(x0, y0 + row_h * (k + 1), x1, y0 + row_h * (k + 1), p.ink, 1)
    c.line(x0, y, x1, y, p.ink, c.hairline())
    return y


def _cell(column: str, rng: np.random.Generator) -> str:
    if column in ("Description", "Item"):
        return words.item(rng)
    if column in ("Qty",):
        return str(int(rng.integers(1, 25)))
    if column in ("Date", "Value date"):
        return words.date(rng, 0)
    if column in ("Unit",):
        return words.pick(rng, ("pcs", "h", "kg", "box", "m", "set"))
    if column in ("VAT", "Discount"):
        return f"{int(rng.integers(0, 25))}%"
    if column in ("Pos.",):
        return str(int(rng.integers(1, 40)))
    if column in ("Item No.", "Code", "Reference", "Type"):
        return words.code(rng, 2) + words.digits(rng, 5)
    return words.amount(rng)


# ----------------------------------------------------------------------------- kinds


def _invoice(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    top = float(lay.uniform(0.15, 0.2))
    _letterhead(c, d, top)
    title_right = lay.random() < 0.5
    title = words.pick(lay, words.HEADINGS["invoice"])
    c.text(
        0.93 if title_right else 0.07,
        top,
        title,
        float(lay.uniform(0.022, 0.034)),
        p.accent if lay.random() < 0.5 else p.ink,
        "heading",
        True,
        "ra" if title_right else "la",
    )
    block_y = top + 0.05
    customer = [words.person(rng) if rng.random() < 0.5 else words.organisation(rng), *words.address(rng)]
    for i, line in enumerate(customer):
        c.text(0.07 if title_right else 0.55, block_y + i * 0.02, line, 0.014, p.ink, max_w=0.38)
    fx = 0.55 if title_right else 0.07
    _fields(c, d, fx, block_y, fx + 0.38, block_y + 0.1, _labels(d, 4), 1, rng)
    ty = block_y + float(lay.uniform(0.12, 0.16))
    end = _table(c, d, 0.07, 0.93, ty, 0.72, int(rng.integers(2, 12)), rng, "invoice")
    for i, name in enumerate(("Subtotal", "VAT", "Total")):
        y = end + 0.015 + i * 0.022
        c.text(0.72, y, name, 0.014, p.ink, bold=name == "Total", anchor="ra")
        c.text(0.93, y, words.amount(rng, 9000), 0.014, p.ink, bold=name == "Total", anchor="ra")
    c.paragraph(0.07, 0.55, end + 0.02, 2, 0.011, _stream(d.layout, "terms"), p.ink)
    if lay.random() < 0.35:
        _qr(c, 0.07, min(end + 0.07, 0.8), 0.07, rng)


def _letter(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    top = float(lay.uniform(0.14, 0.19))
    _letterhead(c, d, top)
    window_right = lay.random() < 0.25
    ax = 0.55 if window_right else 0.07
    for i, line in enumerate([words.person(rng), *words.address(rng)]):
        c.text(ax, top + 0.03 + i * 0.02, line, 0.015, p.ink, max_w=0.38)
    _fields(
        c,
        d,
        0.55 if not window_right else 0.07,
        top + 0.03,
        0.93 if not window_right else 0.45,
        top + 0.1,
        _labels(d, 3),
        1,
        rng,
    )
    y = top + 0.16
    c.text(0.07, y, words.sentence(rng, int(rng.integers(3, 7))), 0.016, p.ink, bold=True, max_w=0.86)
    c.text(0.07, y + 0.035, words.pick(lay, words.HEADINGS["letter"]), 0.014, p.ink)
    y += 0.07
    height = float(lay.uniform(0.012, 0.016))
    while y < 0.72:
        y = c.paragraph(0.07, 0.93, y, int(rng.integers(2, 6)), height, rng, p.ink) + height
    c.text(0.07, min(y, 0.76), words.pick(lay, words.CLOSING), 0.014, p.ink)
    _signature(c, 0.07, min(y, 0.76) + 0.02, 0.3, min(y, 0.76) + 0.06, rng, (20, 30, 110))
    c.text(0.07, min(y, 0.76) + 0.07, words.person(rng), 0.014, p.ink)


def _form(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    top = float(lay.uniform(0.13, 0.18))
    _letterhead(c, d, top)
    c.text(
        0.5 if lay.random() < 0.5 else 0.07,
        top,
        words.pick(lay, words.HEADINGS["form"]),
        0.024,
        p.ink,
        "heading",
        True,
        "ma" if lay.random() < 0.5 else "la",
        max_w=0.86,
    )
    y = top + 0.05
    labels = _labels(d, 18)
    section_fill = lay.random() < 0.5
    k = 0
    while y < 0.86 and k < len(labels):
        part = str(lay.choice(["fields", "checks", "section"], p=[0.6, 0.2, 0.2]))
        if part == "section":
            title = _label(words.item(lay), "upper")
            if section_fill:
                c.rect(0.07, y, 0.93, y + 0.026, fill=p.accent)
                c.text(0.08, y + 0.006, title, 0.013, p.paper, bold=True)
            else:
                c.text(0.07, y, title, 0.015, p.accent, "heading", True)
                c.line(0.07, y + 0.024, 0.93, y + 0.024, p.accent, c.hairline())
            y += 0.04
        elif part == "checks":
            for i in range(int(lay.integers(2, 5))):
                x0 = 0.07 + i * 0.21
                c.rect(x0, y, x0 + 0.02 * c.h / c.w, y + 0.02, outline=p.ink, width=c.hairline())
                if rng.random() < 0.4:
                    c.line(x0, y, x0 + 0.02 * c.h / c.w, y + 0.02, (20, 30, 120), 2)
                c.text(x0 + 0.025 * c.h / c.w + 0.008, y + 0.002, words.pick(lay, words.ITEM_ADJ), 0.012, p.ink)
            y += 0.04
        else:
            n = int(lay.integers(1, 3))
            rows = int(lay.integers(1, 3))
            chunk = labels[k : k + n * rows]
            k += n * rows
            _fields(c, d, 0.07, y, 0.93, y + rows * 0.045, chunk, n, rng)
            y += rows * 0.045 + 0.012
    c.text(0.07, 0.885, _label("Signature", d.typeface.label_case), 0.012, p.ink)
    c.line(0.25, 0.9, 0.6, 0.9, p.ink, 1)
    if rng.random() < 0.7:
        _signature(c, 0.27, 0.865, 0.5, 0.895, rng, (20, 30, 110))


def _statement(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    top = float(lay.uniform(0.14, 0.18))
    _letterhead(c, d, top)
    c.text(0.07, top, words.pick(lay, words.HEADINGS["statement"]), 0.022, p.ink, "heading", True)
    _fields(c, d, 0.07, top + 0.04, 0.93, top + 0.12, _labels(d, 6), 3, rng)
    _table(c, d, 0.07, 0.93, top + 0.14, 0.9, int(rng.integers(10, 30)), rng, "statement")


def _receipt(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    y = 0.025
    align, x = ("ma", 0.5) if d.header in (0, 2) else ("la", 0.08)
    size = 0.05
    _logo(c, d, 0.08 if d.logo_side == 0 else 0.92 - size * c.h / c.w, y, size)
    y += size + 0.01
    if d.header == 2:  # the shop's name and address framed
        c.rect(0.06, y - 0.005, 0.94, y + 0.08, outline=p.ink, width=c.hairline())
    c.text(x, y, d.issuer, 0.016, p.ink, "heading", True, align, max_w=0.86)
    for i, line in enumerate(_issuer_lines(d)):
        c.text(x, y + 0.025 + i * 0.016, line, 0.01, p.ink, anchor=align, max_w=0.86)
    y += 0.085
    if d.header == 3:
        c.line(0.08, y - 0.006, 0.92, y - 0.006, p.ink, c.hairline() + 1)
    c.text(0.08, y, f"{words.date(rng)}  {int(rng.integers(7, 22)):02d}:{int(rng.integers(60)):02d}", 0.011, p.ink)
    c.text(0.92, y, f"#{words.digits(rng, 5)}", 0.011, p.ink, anchor="ra")
    y += 0.025
    t = _stream(d.table, "table")
    dashed, qty = t.random() < 0.6, t.random() < 0.5
    row_h, price_x = float(t.uniform(0.017, 0.026)), float(t.uniform(0.72, 0.92))
    step = 0.03 if dashed else 0.84
    for x0 in np.arange(0.08, 0.92, step):
        c.line(x0, y, min(x0 + step * 0.6, 0.92), y, p.ink, 1)
    y += 0.012
    for _ in range(int(rng.integers(3, 14))):
        if y > 0.72:
            break
        name = words.item(rng)
        if qty:
            c.text(0.08, y, str(int(rng.integers(1, 5))), 0.011, p.ink)
        c.text(0.16 if qty else 0.08, y, name, 0.011, p.ink, max_w=0.55)
        c.text(price_x, y, words.amount(rng, 80), 0.011, p.ink, anchor="ra")
        y += row_h
    for x0 in np.arange(0.08, 0.92, step):
        c.line(x0, y + 0.005, min(x0 + step * 0.6, 0.92), y + 0.005, p.ink, 1)
    c.text(0.08, y + 0.015, _label("Total", "upper"), 0.016, p.ink, bold=True)
    c.text(0.92, y + 0.015, words.amount(rng, 300), 0.016, p.ink, bold=True, anchor="ra")
    c.text(0.08, y + 0.045, f"{_label('Card', d.typeface.label_case)} **** {words.digits(rng, 4)}", 0.011, p.ink)
    if lay.random() < 0.6:
        _barcode(c, 0.15, 0.85, 0.85, 0.92, rng)
    else:
        _qr(c, 0.5 - 0.05 * c.h / c.w, 0.82, 0.1, rng)
    message = _stream(d.layout, "footer").choice(["Thank you for your visit", "Vielen Dank", "Merci et a bientot"])
    if d.footer == 1:
        c.text(0.5, 0.94, message, 0.02, p.ink, bold=True, anchor="ma", max_w=0.86)
    elif d.footer == 2:
        c.line(0.08, 0.935, 0.92, 0.935, p.ink, 1)
        c.text(0.08, 0.945, message, 0.012, p.ink, max_w=0.86)
    elif d.footer == 3:
        c.rect(0.06, 0.93, 0.94, 0.97, fill=p.ink)
        c.text(0.5, 0.937, message, 0.012, p.paper, anchor="ma", max_w=0.86)


def _certificate(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    m = 0.03
    if d.stripes == 0:
        for inset, width in ((m, 3), (m + 0.015, 1)):
            c.rect(
                inset,
                inset * c.w / c.h,
                1 - inset,
                1 - inset * c.w / c.h,
                outline=p.accent,
                width=max(1, width * c.h // 300),
            )
    elif d.stripes == 1:
        c.rect(m, m * c.w / c.h, 1 - m, 1 - m * c.w / c.h, outline=p.accent2, width=max(2, c.h // 40))
    elif d.stripes == 2:
        for cx, cy in ((m, m), (1 - m, m), (m, 1 - m), (1 - m, 1 - m)):
            r = 0.06
            c.draw.ellipse(
                c.box(
                    cx - r * c.h / c.w,
                    cy * c.w / c.h * 0.5 + cy * 0.5 - r,
                    cx + r * c.h / c.w,
                    cy * c.w / c.h * 0.5 + cy * 0.5 + r,
                ),
                fill=p.accent,
            )
    else:
        c.rect(0, 0, 0.06, 1, fill=p.accent)
        c.rect(0.06, 0, 0.07, 1, fill=p.accent2)
    centre = d.header != 3
    x, anchor = (0.5, "ma") if centre else (0.12, "la")
    size = 0.14
    _logo(c, d, 0.1 if d.logo_side == 0 else 0.9 - size * c.h / c.w, 0.07, size)
    y = 0.24
    if d.header == 1:  # the title on a ribbon
        c.rect(
            0.2,
            y + 0.02,
            0.8,
            y + 0.13,
            fill=tuple(int(v * 0.25 + q * 0.75) for v, q in zip(p.accent2, p.paper, strict=True)),
        )
    elif d.header == 2:
        c.text(x, y - 0.01, d.issuer, 0.03, p.ink, "heading", True, anchor, max_w=0.8)
        y += 0.05
    c.text(
        x,
        y,
        words.pick(lay, words.HEADINGS["certificate"]),
        float(lay.uniform(0.055, 0.075)),
        p.accent,
        "heading",
        True,
        anchor,
        max_w=0.8,
    )
    c.text(x, y + 0.13, "This is to certify that", 0.028, p.ink, anchor=anchor)
    c.text(x, y + 0.2, words.person(rng), float(lay.uniform(0.05, 0.07)), p.ink, "heading", True, anchor, max_w=0.8)
    c.text(x, y + 0.31, words.sentence(rng, int(rng.integers(5, 10))), 0.025, p.ink, anchor=anchor, max_w=0.75)
    if d.header != 2:
        c.text(x, y + 0.36, d.issuer, 0.025, p.ink, bold=True, anchor=anchor, max_w=0.75)
    for sx in (0.15, 0.6):
        _signature(c, sx, 0.74, sx + 0.22, 0.8, rng, (20, 30, 110))
        c.line(sx, 0.81, sx + 0.25, 0.81, p.ink, 1)
        c.text(sx, 0.825, words.person(rng), 0.022, p.ink, max_w=0.25)
    place = f"{words.pick(lay, words.CITY)}, {words.date(rng, 0)}"
    if d.footer == 1:
        c.text(0.5, 0.9, place, 0.022, p.ink, anchor="ma")
    elif d.footer == 2:
        c.text(0.12, 0.9, place, 0.022, p.ink)
        c.line(0.12, 0.93, 0.4, 0.93, p.ink, 1)
    elif d.footer == 3:
        c.rect(0.3, 0.885, 0.7, 0.93, fill=p.accent)
        c.text(0.5, 0.892, place, 0.022, p.paper, anchor="ma", max_w=0.38)
    if lay.random() < 0.6:  # a seal
        c.draw.ellipse(c.box(0.5 - 0.06 * c.h / c.w, 0.74, 0.5 + 0.06 * c.h / c.w, 0.86), fill=p.accent2)


def _card(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    band = float(lay.uniform(0.15, 0.22))
    title = words.pick(lay, words.HEADINGS[d.kind])
    band_fill = p.accent if d.header in (0, 3) else None
    if band_fill:
        c.rect(0, 0, 1, band, fill=band_fill)
        if d.header == 3:
            c.rect(0, band, 1, band + 0.03, fill=p.accent2)
    text_colour = p.paper if band_fill else p.accent
    if d.header == 2:
        c.rect(0, 0.93, 1, 1, fill=p.accent)
    logo_w = band * 0.75 * c.h / c.w
    lx = 0.03 if d.logo_side == 0 else 0.97 - logo_w
    _logo(c, d, lx, band * 0.12, band * 0.75)
    tx = 0.06 + logo_w if d.logo_side == 0 else 0.05
    c.text(tx, band * 0.12, d.issuer, band * 0.22, text_colour, "heading", True, max_w=0.9 - logo_w)
    c.text(tx, band * 0.55, title, band * 0.26, text_colour, "heading", True, max_w=0.9 - logo_w)
    if d.stripes == 1:  # flag stripes
        for i, colour in enumerate((p.accent, p.accent2, p.ink)):
            c.rect(0.9, band + 0.04 + i * 0.04, 0.97, band + 0.08 + i * 0.04, fill=colour)
    elif d.stripes == 2:  # a band across the middle
        c.rect(0, 0.55, 1, 0.62, fill=tuple(int(v * 0.3 + q * 0.7) for v, q in zip(p.accent2, p.paper, strict=True)))
    elif d.stripes == 3:  # a frame
        c.rect(0.01, 0.01 * c.w / c.h, 0.99, 1 - 0.01 * c.w / c.h, outline=p.accent2, width=max(1, c.h // 80))
    pw = float(lay.uniform(0.22, 0.28))
    px0 = 0.04 if d.photo_side == 0 else 0.96 - pw
    ptop = band + 0.07
    pbot = min(ptop + pw * c.w / c.h * 1.25, 0.9)
    _photo(c, px0, ptop, px0 + pw, pbot, rng)
    fx0, fx1 = (px0 + pw + 0.04, 0.95) if d.photo_side == 0 else (0.04, px0 - 0.03)
    mrz = d.kind == "id_card" and lay.random() < 0.5
    nlabels = int(lay.integers(4, 8))
    _fields(c, d, fx0, ptop, fx1, 0.76 if mrz else 0.85, _labels(d, nlabels), 1 if nlabels < 6 else 2, rng)
    if mrz:
        for i in range(2):
            line = (
                (words.code(rng, 14) + "<" * 16)[:30]
                if i
                else f"ID{words.code(rng, 3)}{words.digits(rng, 9)}<<<<<<<<<<<<<<<<"[:30]
            )
            c.text(0.04, 0.79 + i * 0.08, line, 0.05, p.ink, max_w=0.92)
    else:
        _signature(c, fx0, 0.84, min(fx0 + 0.3, fx1), 0.92, rng, p.ink)


def _passport(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    align = ("ma", 0.5) if d.header in (0, 2) else ("la", 0.16) if d.logo_side == 0 else ("ra", 0.84)
    if d.header in (1, 3):
        c.rect(0, 0, 1, 0.12, fill=p.accent)
    colour = p.paper if d.header in (1, 3) else p.accent
    c.text(align[1], 0.025, d.issuer, 0.035, colour, "heading", True, align[0], max_w=0.7)
    c.text(
        align[1], 0.07, words.pick(lay, words.HEADINGS["passport"]), 0.035, colour, "heading", True, align[0], max_w=0.7
    )
    _logo(c, d, 0.03 if d.logo_side == 0 else 0.9, 0.02, 0.09)
    left = d.photo_side == 0
    px0 = 0.04 if left else 0.68
    _photo(c, px0, 0.16, px0 + 0.28, 0.66, rng)
    fx0, fx1 = (0.36, 0.97) if left else (0.04, 0.64)
    _fields(c, d, fx0, 0.16, fx1, 0.64, _labels(d, 10), 2, rng)
    _signature(c, fx0, 0.6, fx0 + 0.25, 0.68, rng, p.ink)
    c.rect(0, 0.72, 1, 1, fill=tuple(min(255, v + 10) for v in p.paper))
    for i in range(2):
        line = (
            f"P<{words.code(rng, 3)}{words.pick(rng, words.LAST).upper()}<<{words.pick(rng, words.FIRST).upper()}"
            if i == 0
            else words.code(rng, 9) + words.digits(rng, 12)
        )
        c.text(0.03, 0.76 + i * 0.1, (line + "<" * 44)[:44], 0.055, p.ink, max_w=0.94)


def _bank_card(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    p = d.palette
    lay = _stream(d.layout, "body")
    if d.stripes == 1:
        c.draw.polygon([c.px(0.55, 0), c.px(0.8, 0), c.px(0.45, 1), c.px(0.2, 1)], fill=p.accent)
    elif d.stripes == 2:
        for i in range(6):
            ys = 0.5 + 0.05 * i + 0.06 * np.sin(np.linspace(0, 2 * math.pi, 60) + i)
            c.draw.line(list(zip(np.linspace(0, 1, 60) * c.w, ys * c.h, strict=True)), fill=p.accent2, width=1)
    elif d.stripes == 3:
        c.rect(0, 0.8, 1, 1, fill=p.accent)
    right = d.logo_side == 1
    _logo(c, d, 0.78 if right else 0.06, 0.07, 0.16)
    c.text(0.06 if right else 0.94, 0.08, d.issuer, 0.07, p.ink, "heading", True, "la" if right else "ra", max_w=0.65)
    title = words.pick(lay, words.HEADINGS["bank_card"])
    if d.header % 2:
        c.text(0.94 if not right else 0.06, 0.2, title, 0.05, p.ink, "heading", anchor="ra" if not right else "la")
    chip_x = 0.08 if d.header < 2 else 0.12
    c.rect(chip_x, 0.36, chip_x + 0.12, 0.54, fill=(212, 175, 55), outline=(120, 100, 40))
    number = " ".join(words.digits(rng, 4) for _ in range(4))
    c.text(0.08, 0.6, number, float(lay.uniform(0.07, 0.1)), p.ink, "body", True, max_w=0.86)
    c.text(0.08, 0.8, words.person(rng).upper(), 0.055, p.ink, max_w=0.5)
    c.text(0.6, 0.8, f"{int(rng.integers(1, 13)):02d}/{int(rng.integers(24, 35))}", 0.055, p.ink)
    for i, colour in enumerate((p.accent, p.accent2)):
        c.draw.ellipse(c.box(0.78 + i * 0.07, 0.74, 0.78 + i * 0.07 + 0.1 * c.h / c.w, 0.84), fill=colour)


def _small_print(c: Canvas, d: Design, x0: float, x1: float, y: float, height: float) -> None:
    """Conditions of carriage and the like along the bottom, in the design's footer style."""
    p = d.palette
    text = words.sentence(_stream(d.layout, "footer"), 10)
    if d.footer == 1:
        c.text(x0, y, text, height, p.ink, max_w=x1 - x0)
    elif d.footer == 2:
        c.line(x0, y - height * 0.4, x1, y - height * 0.4, p.ink, c.hairline())
        c.text((x0 + x1) / 2, y, text, height, p.ink, anchor="ma", max_w=x1 - x0)
    elif d.footer == 3:
        c.rect(x0, y - height * 0.3, x1, y + height * 1.5, fill=p.accent2)
        c.text((x0 + x1) / 2, y, text, height, p.paper, anchor="ma", max_w=x1 - x0)


def _ticket(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    """An event or transport ticket: a wide main part and a tear-off stub, big route or title."""
    p = d.palette
    lay = _stream(d.layout, "body")
    stub = float(lay.uniform(0.22, 0.3))
    sx = 1 - stub if d.logo_side == 0 else stub
    main0, main1 = (0.03, sx - 0.02) if d.logo_side == 0 else (sx + 0.02, 0.97)
    stub0, stub1 = (sx + 0.02, 0.97) if d.logo_side == 0 else (0.03, sx - 0.02)
    for y in np.arange(0.02, 0.98, 0.05):  # perforation
        c.line(sx, y, sx, y + 0.025, p.ink, 1)
    band = float(lay.uniform(0.16, 0.24))
    if d.header in (0, 2):
        c.rect(
            main0 - 0.03 if d.logo_side == 0 else main0,
            0,
            main1 if d.logo_side == 0 else main1 + 0.03,
            band,
            fill=p.accent,
        )
    colour = p.paper if d.header in (0, 2) else p.accent
    logo_w = _logo(c, d, main0, band * 0.15, band * 0.7)
    c.text(
        main0 + logo_w + 0.02,
        band * 0.2,
        d.issuer,
        band * 0.28,
        colour,
        "heading",
        True,
        max_w=main1 - main0 - logo_w - 0.05,
    )
    title = str(lay.choice(["E-TICKET", "ADMIT ONE", "Boarding Pass", "Ticket", "Billet", "Fahrkarte"]))
    c.text(main1, band * 0.6, title, band * 0.22, colour, bold=True, anchor="ra")
    if d.header == 3:
        c.line(main0, band, main1, band, p.accent, c.hairline() + 1)
    route = lay.random() < 0.5
    y = band + 0.08
    if route:  # two big place codes with an arrow
        a, b = (words.code(rng, 3) for _ in range(2))
        c.text(main0, y, a, 0.16, p.accent if d.header == 1 else p.ink, "heading", True)
        c.line(main0 + 0.17, y + 0.1, main0 + 0.25, y + 0.1, p.ink, c.hairline() + 1)
        c.text(main0 + 0.27, y, b, 0.16, p.accent if d.header == 1 else p.ink, "heading", True)
    else:
        c.text(
            main0,
            y,
            words.sentence(rng, int(rng.integers(2, 4)))[:-1].title(),
            0.09,
            p.ink,
            "heading",
            True,
            max_w=main1 - main0,
        )
    labels = _labels(d, 6)
    _fields(c, d, main0, 0.62, main1, 0.9, labels, 3, rng)
    c.text(stub0, 0.08, title, 0.06, p.ink, bold=True, max_w=stub1 - stub0)
    c.text(stub0, 0.18, words.person(rng), 0.05, p.ink, max_w=stub1 - stub0)
    if lay.random() < 0.6:
        _qr(c, stub0, 0.4, min(0.45, (stub1 - stub0) * c.w / c.h), rng)
    else:
        _barcode(c, stub0, 0.55, stub1, 0.85, rng)
    if d.stripes == 1:
        c.rect(0, 0.93, 1, 1, fill=p.accent2)
    elif d.stripes == 2:
        c.draw.polygon([c.px(main1 - 0.15, 1), c.px(main1, 0.7), c.px(main1, 1)], fill=p.accent2)
    elif d.stripes == 3:
        for i in range(4):
            c.rect(main0, 0.95 - i * 0.012, main1, 0.955 - i * 0.012, fill=p.accent2)
    _small_print(c, d, main0, main1, 0.925 if d.stripes != 1 else 0.875, 0.022)


def _shipping_label(c: Canvas, d: Design, rng: np.random.Generator) -> None:
    """A parcel label: carrier header, sender and recipient blocks, service code, big barcode."""
    p = d.palette
    lay = _stream(d.layout, "body")
    thick = max(1, c.h // 150)
    c.rect(0.02, 0.01, 0.98, 0.99, outline=p.ink, width=thick)
    head = float(lay.uniform(0.08, 0.12))
    if d.header in (0, 2):
        c.rect(0.02, 0.01, 0.98, head, fill=p.accent if d.header == 0 else p.ink)
    colour = p.paper if d.header in (0, 2) else p.ink
    lx = 0.05 if d.logo_side == 0 else 0.95 - head * 0.7 * c.h / c.w
    _logo(c, d, lx, 0.02, head * 0.7)
    c.text(
        0.95 if d.logo_side == 0 else 0.05,
        0.025,
        d.issuer,
        head * 0.35,
        colour,
        "heading",
        True,
        "ra" if d.logo_side == 0 else "la",
        max_w=0.6,
    )
    c.line(0.02, head, 0.98, head, p.ink, thick)
    y = head + 0.015
    c.text(0.05, y, _label("From", d.typeface.label_case), 0.014, p.ink, bold=True)
    for i, line in enumerate([words.organisation(rng), *words.address(rng)]):
        c.text(0.05, y + 0.02 + i * 0.018, line, 0.013, p.ink, max_w=0.6)
    service = str(lay.choice(["EXPRESS", "PRIORITY", "STANDARD", "ECONOMY", "NEXT DAY"]))
    box = (0.7, y, 0.95, y + 0.08)
    if d.fields in (0, 2):
        c.rect(*box, fill=p.ink)
        c.text(0.825, y + 0.025, service, 0.022, p.paper, bold=True, anchor="ma", max_w=0.23)
    else:
        c.rect(*box, outline=p.ink, width=thick)
        c.text(0.825, y + 0.025, service, 0.022, p.ink, bold=True, anchor="ma", max_w=0.23)
    y += 0.1
    c.line(0.02, y, 0.98, y, p.ink, thick)
    c.text(0.05, y + 0.012, _label("Ship to", d.typeface.label_case), 0.016, p.ink, bold=True)
    for i, line in enumerate([words.person(rng).upper(), *words.address(rng)]):
        c.text(0.08, y + 0.04 + i * 0.03, line, 0.022, p.ink, bold=i == 0, max_w=0.85)
    y += 0.15
    c.line(0.02, y, 0.98, y, p.ink, thick)
    labels = [_label(s, d.typeface.label_case) for s in ("Weight", "Ref.", "Date", "Pieces")]
    _fields(c, d, 0.05, y + 0.015, 0.95, y + 0.09, labels, 2, rng)
    y += 0.1
    c.line(0.02, y, 0.98, y, p.ink, thick)
    _barcode(c, 0.08, y + 0.03, 0.92, y + 0.2, rng)
    c.text(0.5, y + 0.21, " ".join(words.digits(rng, 4) for _ in range(4)), 0.016, p.ink, anchor="ma")
    if d.stripes == 1:
        c.rect(0.02, 0.9, 0.98, 0.99, fill=p.accent2)
    elif d.stripes == 2:
        _qr(c, 0.05, 0.86, 0.1, rng)
    elif d.stripes == 3:
        c.rect(0.85, 0.84, 0.95, 0.96, fill=p.ink)
        c.text(0.9, 0.86, words.code(rng, 1), 0.07, p.paper, bold=True, anchor="ma")
    _small_print(c, d, 0.05, 0.95, 0.955 if d.stripes != 1 else 0.865, 0.011)


def _page(draw):
    """A page kind: the kind's body, its footer, and the stripes along the page's edges over both."""

    def render_page(c: Canvas, d: Design, rng: np.random.Generator) -> None:
        draw(c, d, rng)
        _footer(c, d, rng)
        _stripes(c, d)

    return render_page


_LAYOUTS = {
    "id_card": _card,
    "licence": _card,
    "bank_card": _bank_card,
    "passport": _passport,
    "certificate": _certificate,
    "invoice": _page(_invoice),
    "letter": _page(_letter),
    "form": _page(_form),
    "statement": _page(_statement),
    "receipt": _receipt,
    "ticket": _ticket,
    "shipping_label": _shipping_label,
}


def render(design: Design, content_seed: list[int], long_side: int = 256, fonts: str = "auto") -> Image.Image:
    """One instance of ``design``: the same design, content drawn from ``content_seed``."""
    rng = np.random.default_rng(content_seed)
    if design.aspect >= 1:
        w, h = long_side, max(8, round(long_side / design.aspect))
    else:
        w, h = max(8, round(long_side * design.aspect)), long_side
    c = Canvas(w, h, design, font_families(fonts))
    _background(c, design.palette)
    _LAYOUTS[design.kind](c, design, rng)
    if design.kind in ("letter", "invoice", "form", "certificate") and rng.random() < 0.2:
        _stamp(c, rng)
    return c.image


class SyntheticDocuments:
    """``num_classes`` designs × ``samples_per_class`` instances each; ``load(i, epoch)`` → (PIL, label).

    Classes come in families of ``family_size`` look-alike siblings (1: every design independent).
    ``fonts``: ``auto`` (the installed families, data/fonts.py), ``builtin`` or a font folder.
    """

    def __init__(
        self,
        num_classes: int,
        samples_per_class: int,
        seed: int = 0,
        long_side: int = 256,
        family_size: int = 1,
        fonts: str = "auto",
    ):
        self.num_classes = num_classes
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.long_side = long_side
        self.family_size = family_size
        self.fonts = fonts

    def __len__(self) -> int:
        return self.num_classes * self.samples_per_class

    def template(self, class_id: int) -> Design:
        return make_template(self.seed, class_id, self.family_size)

    def families(self) -> np.ndarray:
        """Each class's family id (``family_member``: consecutive blocks of ``family_size``)."""
        return np.arange(self.num_classes) // max(1, self.family_size)

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        class_id, instance = divmod(index, self.samples_per_class)
        image = render(self.template(class_id), [self.seed, class_id, instance, epoch], self.long_side, self.fonts)
        return image, class_id


def contact_sheet(seed: int, families: int, family_size: int, cell: int = 320, fonts: str = "auto") -> Image.Image:
    """One row per family: its siblings side by side, each captioned with its relation."""
    sheet = Image.new("RGB", (cell * family_size, (cell + 16) * families), (70, 70, 70))
    draw = ImageDraw.Draw(sheet)
    for f in range(families):
        for m in range(family_size):
            design, relation, changed = family_member(seed, f * family_size + m, family_size)
            image = render(design, [seed, f, m], cell, fonts)
            image.thumbnail((cell - 6, cell - 6))
            y = f * (cell + 16)
            sheet.paste(image, (m * cell + 3, y + 16))
            draw.text((m * cell + 4, y + 2), f"{design.kind}: {relation} {' '.join(changed)}"[:60], fill=(255, 230, 0))
    return sheet


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Draw a few families of synthetic designs into one picture.")
    parser.add_argument("--out", default="families.png")
    parser.add_argument("--seed", type=int, default=0, help="0 is what training draws by default")
    parser.add_argument("--families", type=int, default=6)
    parser.add_argument("--family-size", type=int, default=4)
    parser.add_argument("--fonts", default="auto", help="auto, builtin or a font folder")
    args = parser.parse_args(argv)
    contact_sheet(args.seed, args.families, args.family_size, fonts=args.fonts).save(args.out)
    print(f"{args.families} families of {args.family_size} written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
