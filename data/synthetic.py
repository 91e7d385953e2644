"""Synthetic document types rendered in memory, so training needs no data on disk.

A class is a *template*: a kind of document (ID card, driving licence, passport page, bank card,
invoice, receipt, form, letter, certificate, statement table) with its own layout, palette,
background (plain, gradient, guilloche, pattern), logo, header, label texts and type sizes, all drawn
from (seed, class id). Each instance of the class fills that layout with different content: names,
numbers, photo, signature, table rows, stamps, a little positional jitter. The model learns "same
layout, different content", which is what matching against a register needs.

Everything is a pure function of (seed, class id, instance, epoch), so DataLoader workers render on
the fly and every run sees the same images. Pillow's built-in scalable font is the only font (no
files to ship or find); weight varies with stroke width, case and letter spacing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# kind → (aspect ratio width/height, share of templates)
KINDS: dict[str, tuple[float, float]] = {
    "id_card": (1.586, 0.14),
    "licence": (1.586, 0.08),
    "bank_card": (1.586, 0.06),
    "passport": (1.42, 0.08),
    "certificate": (1.414, 0.08),
    "invoice": (0.707, 0.14),
    "letter": (0.707, 0.12),
    "form": (0.707, 0.12),
    "statement": (0.707, 0.08),
    "receipt": (0.42, 0.10),
}
_NAMES = list(KINDS)
_SHARES = np.array([share for _, share in KINDS.values()])
_SHARES = _SHARES / _SHARES.sum()

UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"


@dataclass(frozen=True)
class Template:
    """What is fixed for a document type. The layout is re-drawn from ``key`` at render time."""

    kind: str
    aspect: float
    key: tuple[int, ...]


def make_template(seed: int, class_id: int) -> Template:
    rng = np.random.default_rng([seed, class_id, 0x7E])
    kind = _NAMES[int(rng.choice(len(_NAMES), p=_SHARES))]
    aspect = KINDS[kind][0] * float(rng.uniform(0.96, 1.04))
    if kind == "receipt":
        aspect = float(rng.uniform(0.3, 0.55))
    elif kind in ("letter", "form", "statement", "invoice") and rng.random() < 0.15:
        aspect = 1 / aspect  # a landscape page now and then
    return Template(kind, aspect, (seed, class_id))


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(4, size))


def _color(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def _word(rng: np.random.Generator, alphabet: str, lo: int, hi: int) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), int(rng.integers(lo, hi + 1))))


def _name(rng: np.random.Generator) -> str:
    return f"{_word(rng, UPPER, 1, 1)}{_word(rng, LOWER, 3, 8)} {_word(rng, UPPER, 4, 10)}"


def _number(rng: np.random.Generator, groups: int, size: int, sep: str = " ") -> str:
    return sep.join(_word(rng, DIGITS, size, size) for _ in range(groups))


class Canvas:
    """A page of ``w`` × ``h`` pixels with drawing helpers in page fractions (0–1)."""

    def __init__(self, w: int, h: int, background):
        self.w, self.h = w, h
        self.image = Image.new("RGB", (w, h), background)
        self.draw = ImageDraw.Draw(self.image)

    def px(self, x: float, y: float) -> tuple[float, float]:
        return x * self.w, y * self.h

    def box(self, x0, y0, x1, y1) -> list[float]:
        return [x0 * self.w, y0 * self.h, x1 * self.w, y1 * self.h]

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width: int = 1) -> None:
        if x1 > x0 and y1 > y0:
            self.draw.rectangle(self.box(x0, y0, x1, y1), fill=fill, outline=outline, width=width)

    def line(self, x0, y0, x1, y1, fill, width: int = 1) -> None:
        self.draw.line(self.box(x0, y0, x1, y1), fill=fill, width=width)

    def text(self, x, y, s: str, height: float, fill, bold: bool = False, anchor: str = "la") -> None:
        size = round(height * self.h)
        if size < 5:  # too small to be legible at this resolution: a bar of the same extent
            length = len(s) * height * self.h * 0.55 / self.w
            x0 = x - length / 2 if anchor[0] == "m" else x - length if anchor[0] == "r" else x
            self.rect(x0, y + height * 0.2, x0 + length, y + height * 0.75, fill=fill)
            return
        self.draw.text(self.px(x, y), s, fill=fill, font=_font(size), anchor=anchor, stroke_width=int(bold))

    def bars(self, x0, y0, x1, y1, lines: int, rng: np.random.Generator, fill, ragged: bool = True) -> None:
        """Body text as word bars: the column stays put, the words change."""
        line_h = (y1 - y0) / max(lines, 1)
        for i in range(lines):
            y = y0 + i * line_h + line_h * 0.25
            end = x0 + (x1 - x0) * (float(rng.uniform(0.4, 1.0)) if ragged and i == lines - 1 else 1.0)
            x = x0
            while x < end:
                word = (x1 - x0) * float(rng.uniform(0.03, 0.14))
                self.rect(x, y, min(x + word, end), y + max(line_h * 0.45, 1.2 / self.h), fill=fill)
                x += word + (x1 - x0) * 0.025


@dataclass
class Style:
    paper: tuple[int, int, int]
    ink: tuple[int, int, int]
    accent: tuple[int, int, int]
    accent2: tuple[int, int, int]
    label_case: str
    bold_labels: bool
    label_h: float
    value_h: float


def _style(rng: np.random.Generator, dark_paper: bool = False) -> Style:
    accent = _color(rng, 0, 200)
    paper = _color(rng, 60, 160) if dark_paper else _color(rng, 215, 256)
    return Style(
        paper=paper,
        ink=(250, 250, 250) if dark_paper else _color(rng, 0, 70),
        accent=accent,
        accent2=_color(rng, 40, 230),
        label_case=str(rng.choice(["upper", "title", "lower"])),
        bold_labels=bool(rng.random() < 0.5),
        label_h=float(rng.uniform(0.025, 0.045)),
        value_h=float(rng.uniform(0.03, 0.06)),
    )


def _label(rng: np.random.Generator, case: str) -> str:
    word = _word(rng, LOWER, 3, 9)
    return word.upper() if case == "upper" else word.title() if case == "title" else word


def _background(c: Canvas, rng: np.random.Generator, st: Style, kind: str) -> None:
    """Template-fixed background: gradient, guilloche rosettes/waves, dots or stripes."""
    style = rng.choice(["plain", "gradient", "guilloche", "waves", "dots"], p=[0.25, 0.2, 0.25, 0.2, 0.1])
    if kind in ("invoice", "letter", "form", "statement", "receipt") and rng.random() < 0.7:
        style = "plain"
    if style == "gradient":
        a, b = np.array(st.paper, float), np.array(_color(rng, 150, 256), float)
        horizontal = bool(rng.random() < 0.5)
        t = np.linspace(0, 1, c.w if horizontal else c.h)[:, None]
        ramp = (a * (1 - t) + b * t).astype(np.uint8)
        arr = np.repeat(ramp[None], c.h, 0) if horizontal else np.repeat(ramp[:, None], c.w, 1)
        c.image.paste(Image.fromarray(arr))
    elif style == "guilloche":
        tone = tuple(int(v * 0.6 + p * 0.4) for v, p in zip(_color(rng, 80, 230), st.paper, strict=True))
        cx, cy = float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8))
        r0, k, petals = float(rng.uniform(0.2, 0.6)), float(rng.uniform(0.2, 0.5)), int(rng.integers(5, 17))
        for j in range(int(rng.integers(6, 14))):
            t = np.linspace(0, 2 * math.pi, 240)
            r = r0 * (1 + k * np.sin(petals * t + j * 0.4)) * (0.6 + 0.04 * j)
            pts = list(zip((cx + r * np.cos(t) / max(c.w / c.h, 1)) * c.w, (cy + r * np.sin(t)) * c.h, strict=True))
            c.draw.line(pts, fill=tone, width=1)
    elif style == "waves":
        tone = tuple(int(v * 0.5 + p * 0.5) for v, p in zip(_color(rng, 60, 230), st.paper, strict=True))
        amp, freq, step = float(rng.uniform(0.01, 0.05)), float(rng.uniform(2, 9)), float(rng.uniform(0.03, 0.08))
        xs = np.linspace(0, 1, 120)
        for y in np.arange(0, 1 + step, step):
            ys = y + amp * np.sin(freq * 2 * math.pi * xs + y * 7)
            c.draw.line(list(zip(xs * c.w, ys * c.h, strict=True)), fill=tone, width=1)
    elif style == "dots":
        tone = tuple(int(v * 0.4 + p * 0.6) for v, p in zip(_color(rng, 60, 230), st.paper, strict=True))
        step = float(rng.uniform(0.03, 0.07))
        for x in np.arange(0, 1, step):
            for y in np.arange(0, 1, step * c.w / c.h):
                c.rect(x, y, x + 0.008, y + 0.008 * c.w / c.h, fill=tone)


def _logo(c: Canvas, x, y, size, rng: np.random.Generator, st: Style) -> None:
    """A template-fixed emblem: rings, shield, star, monogram, or stacked bars."""
    shape = rng.choice(["rings", "shield", "star", "monogram", "bars"])
    s = size * c.h
    x0, y0 = x * c.w, y * c.h
    if shape == "rings":
        c.draw.ellipse([x0, y0, x0 + s, y0 + s], fill=st.accent)
        c.draw.ellipse([x0 + s * 0.55, y0, x0 + s * 1.55, y0 + s], fill=st.accent2)
    elif shape == "shield":
        c.draw.polygon(
            [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s * 0.6), (x0 + s / 2, y0 + s), (x0, y0 + s * 0.6)], fill=st.accent
        )
        c.draw.rectangle([x0 + s * 0.4, y0 + s * 0.1, x0 + s * 0.6, y0 + s * 0.75], fill=st.paper)
    elif shape == "star":
        n = int(rng.integers(5, 9))
        pts = [
            (
                x0 + s / 2 + (s / 2 if i % 2 == 0 else s / 4.5) * math.cos(math.pi * i / n - math.pi / 2),
                y0 + s / 2 + (s / 2 if i % 2 == 0 else s / 4.5) * math.sin(math.pi * i / n - math.pi / 2),
            )
            for i in range(2 * n)
        ]
        c.draw.polygon(pts, fill=st.accent)
    elif shape == "monogram":
        c.draw.rectangle([x0, y0, x0 + s, y0 + s], fill=st.accent)
        c.text((x0 + s / 2) / c.w, (y0 + s / 2) / c.h, _word(rng, UPPER, 1, 2), size * 0.7, st.paper, True, "mm")
    else:
        for i in range(3):
            c.draw.rectangle(
                [x0, y0 + i * s * 0.36, x0 + s * (1 - 0.25 * i), y0 + i * s * 0.36 + s * 0.22], fill=st.accent
            )


def _photo(c: Canvas, x0, y0, x1, y1, rng: np.random.Generator) -> None:
    """A portrait: the frame is the template's, the person (colours, proportions) the instance's."""
    x0p, y0p, x1p, y1p = (round(v) for v in c.box(x0, y0, x1, y1))
    w, h = x1p - x0p, y1p - y0p
    if w < 4 or h < 4:
        return
    photo = Image.new("RGB", (w, h), _color(rng, 140, 240))
    d = ImageDraw.Draw(photo)
    skin, hair, cloth = _color(rng, 120, 240), _color(rng, 10, 120), _color(rng, 20, 200)
    hw = float(rng.uniform(0.22, 0.32))
    d.ellipse([w * 0.1, h * 0.68, w * 0.9, h * 1.4], fill=cloth)
    d.ellipse([w * (0.46 - hw), h * 0.1, w * (0.54 + hw), h * 0.6], fill=hair)
    d.ellipse([w * (0.5 - hw), h * 0.18, w * (0.5 + hw), h * 0.72], fill=skin)
    c.image.paste(photo, (x0p, y0p))


def _signature(c: Canvas, x0, y0, x1, y1, rng: np.random.Generator, ink) -> None:
    n = int(rng.integers(12, 30))
    xs = np.sort(rng.uniform(x0, x1, n))
    ys = rng.uniform(y0, y1, n)
    c.draw.line(list(zip(xs * c.w, ys * c.h, strict=True)), fill=ink, width=max(1, c.h // 200))


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


def _stamp(c: Canvas, rng: np.random.Generator) -> None:
    """A round rubber stamp at a place that differs per instance (content, not layout)."""
    x, y, r = float(rng.uniform(0.1, 0.8)), float(rng.uniform(0.5, 0.85)), float(rng.uniform(0.05, 0.1))
    color = (int(rng.integers(120, 220)), 20, int(rng.integers(20, 160)))
    box = [x * c.w - r * c.h, y * c.h - r * c.h, x * c.w + r * c.h, y * c.h + r * c.h]
    c.draw.ellipse(box, outline=color, width=max(1, c.h // 120))


def _fields(c: Canvas, x0, y0, x1, y1, rows: int, cols: int, st: Style, layout, rng: np.random.Generator) -> None:
    """Label/value pairs: labels and places from the template, values from the instance."""
    row_h = (y1 - y0) / rows
    col_w = (x1 - x0) / cols
    stacked = bool(layout.random() < 0.5)
    for r in range(rows):
        for k in range(cols):
            if layout.random() < 0.12:
                continue
            x, y = x0 + k * col_w, y0 + r * row_h
            label = _label(layout, st.label_case)
            lh = min(st.label_h, row_h * 0.4)
            c.text(x, y, label, lh, st.accent, st.bold_labels)
            value = _name(rng) if layout.random() < 0.5 else _number(rng, int(layout.integers(1, 4)), 2, ".")
            vx, vy = (x, y + lh * 1.1) if stacked else (x + col_w * 0.4, y)
            c.text(vx, vy, value, min(st.value_h, row_h * 0.5), st.ink)


def _card(c: Canvas, layout, rng, st: Style, kind: str) -> None:
    band = float(layout.uniform(0.14, 0.24))
    if layout.random() < 0.8:
        c.rect(0, 0, 1, band, fill=st.accent)
    title = " ".join(_word(layout, UPPER, 3, 8) for _ in range(int(layout.integers(1, 3))))
    c.text(
        0.5 if layout.random() < 0.5 else 0.22,
        band * 0.25,
        title,
        band * 0.45,
        st.paper,
        True,
        "ma" if layout.random() < 0.5 else "la",
    )
    _logo(c, 0.03, band * 0.12, band * 0.76, layout, st)
    if layout.random() < 0.4:  # flag stripes
        for i, color in enumerate([st.accent, st.accent2, _color(layout, 0, 256)]):
            c.rect(0.88, band * (0.15 + i * 0.23), 0.97, band * (0.15 + (i + 1) * 0.23), fill=color)
    left = layout.random() < 0.75
    pw = float(layout.uniform(0.22, 0.3))
    px0 = 0.04 if left else 0.96 - pw
    ptop = band + 0.06
    pbot = min(ptop + pw * c.w / c.h * 1.25, 0.95)
    _photo(c, px0, ptop, px0 + pw, pbot, rng)
    fx0, fx1 = (px0 + pw + 0.04, 0.97) if left else (0.04, px0 - 0.03)
    mrz = kind == "id_card" and layout.random() < 0.5
    _fields(
        c, fx0, ptop, fx1, 0.78 if mrz else 0.9, int(layout.integers(3, 6)), int(layout.integers(1, 3)), st, layout, rng
    )
    if mrz:
        for i in range(2):
            c.text(0.04, 0.8 + i * 0.09, _word(rng, UPPER + DIGITS + "<<<<<<", 30, 30), 0.075, st.ink)
    elif kind == "licence" and layout.random() < 0.7:
        for i in range(int(layout.integers(3, 7))):  # category boxes
            c.rect(fx0 + i * 0.08, 0.86, fx0 + i * 0.08 + 0.065, 0.96, outline=st.accent)
            if rng.random() < 0.5:
                c.text(fx0 + i * 0.08 + 0.01, 0.87, _word(rng, UPPER, 1, 2), 0.07, st.ink)
    _signature(c, fx0, 0.82, min(fx0 + 0.3, fx1), 0.95, rng, st.ink)


def _bank_card(c: Canvas, layout, rng, st: Style) -> None:
    _logo(c, 0.06, 0.08, 0.18, layout, st)
    c.text(0.95, 0.08, _word(layout, UPPER, 4, 9), 0.12, st.ink, True, "ra")
    c.rect(0.08, 0.36, 0.2, 0.54, fill=(212, 175, 55), outline=(120, 100, 40))  # chip
    if layout.random() < 0.6:
        c.text(0.24, 0.38, ")))", 0.12, st.ink)
    c.text(0.08, 0.6, _number(rng, 4, 4), float(layout.uniform(0.09, 0.13)), st.ink, True)
    c.text(0.08, 0.8, _name(rng).upper(), 0.07, st.ink)
    c.text(0.55, 0.8, f"{rng.integers(1, 13):02d}/{rng.integers(24, 35)}", 0.07, st.ink)
    _logo(c, 0.78, 0.72, 0.2, layout, st)


def _passport(c: Canvas, layout, rng, st: Style) -> None:
    c.text(0.5, 0.04, " ".join(_word(layout, UPPER, 4, 9) for _ in range(2)), 0.06, st.accent, True, "ma")
    _logo(c, 0.04, 0.03, 0.1, layout, st)
    _photo(c, 0.04, 0.16, 0.3, 0.68, rng)
    _fields(c, 0.34, 0.16, 0.97, 0.68, int(layout.integers(4, 7)), 2, st, layout, rng)
    _signature(c, 0.34, 0.6, 0.62, 0.7, rng, st.ink)
    c.rect(0, 0.72, 1, 1, fill=tuple(min(255, v + 10) for v in st.paper))
    for i in range(2):
        c.text(0.03, 0.76 + i * 0.11, _word(rng, UPPER + DIGITS + "<<<<<<<<", 36, 36), 0.085, st.ink)


def _certificate(c: Canvas, layout, rng, st: Style) -> None:
    for inset, width in ((0.02, 4), (0.045, 1)):
        c.rect(
            inset,
            inset * c.w / c.h,
            1 - inset,
            1 - inset * c.w / c.h,
            outline=st.accent,
            width=max(1, width * c.h // 300),
        )
    _logo(c, 0.46, 0.08, 0.14, layout, st)
    c.text(
        0.5,
        0.26,
        " ".join(_word(layout, UPPER, 5, 11) for _ in range(int(layout.integers(1, 3)))),
        0.09,
        st.accent,
        True,
        "ma",
    )
    c.text(0.5, 0.4, _word(layout, LOWER, 6, 12), 0.045, st.ink, False, "ma")
    c.text(0.5, 0.5, _name(rng), float(layout.uniform(0.07, 0.1)), st.ink, True, "ma")
    c.bars(0.2, 0.63, 0.8, 0.75, 2, rng, st.ink)
    for x in (0.12, 0.62):
        _signature(c, x, 0.78, x + 0.26, 0.86, rng, st.ink)
        c.line(x, 0.87, x + 0.26, 0.87, st.ink)
    if layout.random() < 0.7:  # a seal
        c.draw.ellipse(c.box(0.5 - 0.06 * c.h / c.w, 0.76, 0.5 + 0.06 * c.h / c.w, 0.88), fill=st.accent2)


def _page_header(c: Canvas, layout, rng, st: Style) -> float:
    """Letterhead: logo, company name, address lines, rule. Returns where the body starts."""
    right = layout.random() < 0.4
    size = float(layout.uniform(0.04, 0.07))
    _logo(c, 0.9 - size * c.h / c.w if right else 0.07, 0.04, size, layout, st)
    name_x = 0.07 if right else 0.1 + size * c.h / c.w
    c.text(
        name_x,
        0.045,
        " ".join(_word(layout, UPPER, 3, 9) for _ in range(int(layout.integers(1, 3)))),
        size * 0.55,
        st.accent,
        True,
    )
    c.bars(name_x, 0.045 + size * 0.6, name_x + 0.3, 0.045 + size * 1.1, 2, layout, st.ink)
    top = 0.06 + size * 1.2
    if layout.random() < 0.7:
        c.line(0.07, top, 0.93, top, st.accent, max(1, c.h // 250))
    return top + 0.03


def _invoice(c: Canvas, layout, rng, st: Style) -> None:
    top = _page_header(c, layout, rng, st)
    c.text(0.93, top, _label(layout, "upper"), 0.035, st.accent, True, "ra")
    c.bars(0.07, top, 0.4, top + 0.08, 4, rng, st.ink)  # bill-to address
    _fields(c, 0.6, top + 0.04, 0.93, top + 0.14, 3, 1, st, layout, rng)
    ty = top + 0.18
    cols = np.cumsum([0.07, *layout.dirichlet(np.ones(int(layout.integers(3, 6))) * 3) * 0.86])
    head_fill = st.accent if layout.random() < 0.6 else None
    c.rect(0.07, ty, 0.93, ty + 0.03, fill=head_fill, outline=st.accent)
    rows = int(rng.integers(3, 12))  # the number of items is content
    row_h = 0.028
    striped = bool(layout.random() < 0.5)
    for r in range(rows):
        y = ty + 0.03 + r * row_h
        if striped and r % 2:
            c.rect(0.07, y, 0.93, y + row_h, fill=tuple(max(0, v - 12) for v in st.paper))
        for i in range(len(cols) - 1):
            w = (cols[i + 1] - cols[i]) * float(rng.uniform(0.3, 0.8))
            x = cols[i + 1] - 0.01 - w if i else cols[i] + 0.01
            c.rect(x, y + row_h * 0.3, x + w, y + row_h * 0.7, fill=st.ink)
    end = ty + 0.03 + rows * row_h
    for x in cols:
        c.line(x, ty, x, end, st.accent)
    c.line(0.07, end, 0.93, end, st.accent)
    c.rect(0.6, end + 0.02, 0.93, end + 0.1, outline=st.accent)
    c.bars(0.62, end + 0.03, 0.91, end + 0.09, 3, rng, st.ink, ragged=False)
    c.bars(0.07, 0.88, 0.93, 0.95, 2, layout, st.ink)  # footer: fixed small print
    if layout.random() < 0.4:
        _qr(c, 0.07, end + 0.02, 0.08, rng)


def _letter(c: Canvas, layout, rng, st: Style) -> None:
    top = _page_header(c, layout, rng, st)
    c.bars(0.07, top + 0.02, 0.4, top + 0.1, 4, rng, st.ink)
    c.text(0.93, top + 0.12, _number(rng, 3, 2, "."), 0.02, st.ink, False, "ra")
    y = top + 0.18
    while y < 0.75:
        lines = int(rng.integers(2, 7))
        c.bars(0.07, y, 0.93, y + lines * 0.022, lines, rng, st.ink)
        y += lines * 0.022 + 0.02
    _signature(c, 0.07, 0.78, 0.3, 0.84, rng, st.ink)
    c.bars(0.07, 0.93, 0.93, 0.96, 1, layout, st.accent)


def _form(c: Canvas, layout, rng, st: Style) -> None:
    top = _page_header(c, layout, rng, st) if layout.random() < 0.6 else 0.05
    c.text(0.5, top, " ".join(_word(layout, UPPER, 4, 10) for _ in range(2)), 0.03, st.ink, True, "ma")
    y = top + 0.06
    while y < 0.9:
        kind = layout.choice(["boxes", "checks", "lines", "section"])
        if kind == "section":
            c.rect(0.07, y, 0.93, y + 0.03, fill=st.accent)
            c.text(0.08, y + 0.003, _label(layout, "upper"), 0.022, st.paper, True)
            y += 0.045
        elif kind == "boxes":
            n = int(layout.integers(1, 4))
            for i in range(n):
                x0 = 0.07 + i * 0.86 / n
                c.text(x0, y, _label(layout, st.label_case), 0.018, st.ink, st.bold_labels)
                c.rect(x0, y + 0.022, x0 + 0.86 / n - 0.02, y + 0.055, outline=st.ink)
                if rng.random() < 0.8:
                    c.text(x0 + 0.01, y + 0.027, _name(rng), 0.022, (20, 20, 120))
            y += 0.07
        elif kind == "checks":
            for i in range(int(layout.integers(2, 6))):
                x0 = 0.07 + i * 0.17
                c.rect(x0, y, x0 + 0.025 * c.h / c.w, y + 0.025, outline=st.ink)
                if rng.random() < 0.4:
                    c.line(x0, y, x0 + 0.025 * c.h / c.w, y + 0.025, (20, 20, 120), 2)
                c.text(x0 + 0.03 * c.h / c.w + 0.01, y, _label(layout, "lower"), 0.018, st.ink)
            y += 0.045
        else:
            c.text(0.07, y, _label(layout, st.label_case), 0.018, st.ink, st.bold_labels)
            c.line(0.3, y + 0.022, 0.93, y + 0.022, st.ink)
            if rng.random() < 0.7:
                c.text(0.32, y, _name(rng), 0.02, (20, 20, 120))
            y += 0.04


def _statement(c: Canvas, layout, rng, st: Style) -> None:
    top = _page_header(c, layout, rng, st)
    _fields(c, 0.07, top, 0.93, top + 0.1, 2, 3, st, layout, rng)
    ty = top + 0.13
    ncols = int(layout.integers(3, 7))
    cols = np.linspace(0.07, 0.93, ncols + 1)
    rows = int(layout.integers(15, 30))
    row_h = (0.9 - ty) / rows
    grid = layout.random() < 0.5
    c.rect(0.07, ty, 0.93, ty + row_h, fill=st.accent)
    for r in range(1, rows):
        y = ty + r * row_h
        if grid:
            c.line(0.07, y, 0.93, y, st.accent)
        elif r % 2:
            c.rect(0.07, y, 0.93, y + row_h, fill=tuple(max(0, v - 15) for v in st.paper))
        if rng.random() < 0.9:
            for i in range(ncols):
                w = (cols[i + 1] - cols[i]) * float(rng.uniform(0.3, 0.85))
                c.rect(cols[i] + 0.01, y + row_h * 0.3, cols[i] + 0.01 + w, y + row_h * 0.7, fill=st.ink)
    if grid:
        for x in cols:
            c.line(x, ty, x, 0.9, st.accent)


def _receipt(c: Canvas, layout, rng, st: Style) -> None:
    y = 0.03
    if layout.random() < 0.6:
        _logo(c, 0.5 - 0.03 * c.h / c.w, y, 0.06, layout, st)
        y += 0.07
    c.text(0.5, y, _word(layout, UPPER, 4, 10), 0.03, st.ink, True, "ma")
    c.bars(0.2, y + 0.035, 0.8, y + 0.07, 2, layout, st.ink)
    y += 0.09
    dashed = layout.random() < 0.6
    for _ in range(int(rng.integers(4, 14))):
        if y > 0.78:
            break
        c.rect(0.06, y, 0.06 + float(rng.uniform(0.2, 0.55)), y + 0.012, fill=st.ink)
        c.rect(0.94 - float(rng.uniform(0.12, 0.2)), y, 0.94, y + 0.012, fill=st.ink)
        y += 0.025
    for x in np.arange(0.05, 0.95, 0.04 if dashed else 0.9):
        c.line(x, y, x + (0.025 if dashed else 0.9), y, st.ink)
    c.text(0.06, y + 0.01, _label(layout, "upper"), 0.022, st.ink, True)
    c.text(0.94, y + 0.01, _number(rng, 1, 3) + "." + _number(rng, 1, 2), 0.022, st.ink, True, "ra")
    if layout.random() < 0.7:
        _barcode(c, 0.15, 0.88, 0.85, 0.96, rng)
    else:
        _qr(c, 0.5 - 0.05 * c.h / c.w, 0.86, 0.1, rng)


_LAYOUTS = {
    "id_card": lambda c, lay, rng, st: _card(c, lay, rng, st, "id_card"),
    "licence": lambda c, lay, rng, st: _card(c, lay, rng, st, "licence"),
    "bank_card": _bank_card,
    "passport": _passport,
    "certificate": _certificate,
    "invoice": _invoice,
    "letter": _letter,
    "form": _form,
    "statement": _statement,
    "receipt": _receipt,
}


def render(template: Template, content_seed: list[int], long_side: int = 256) -> Image.Image:
    """One instance of ``template``: the same layout, content drawn from ``content_seed``.

    Two generators run side by side: ``layout`` is seeded by the template alone, so every call it
    answers (positions, labels, logo, colours) is the same for every instance; ``rng`` is seeded by
    the instance and decides the content.
    """
    layout = np.random.default_rng([*template.key, 0x1A])
    rng = np.random.default_rng(content_seed)
    if template.aspect >= 1:
        w, h = long_side, max(8, round(long_side / template.aspect))
    else:
        w, h = max(8, round(long_side * template.aspect)), long_side
    st = _style(layout, dark_paper=template.kind == "bank_card")
    c = Canvas(w, h, st.paper)
    _background(c, layout, st, template.kind)
    _LAYOUTS[template.kind](c, layout, rng, st)
    if template.kind in ("letter", "invoice", "form", "certificate") and rng.random() < 0.25:
        _stamp(c, rng)
    return c.image


class SyntheticDocuments:
    """``num_classes`` templates × ``samples_per_class`` instances each; ``load(i, epoch)`` → (PIL, label)."""

    def __init__(self, num_classes: int, samples_per_class: int, seed: int = 0, long_side: int = 256):
        self.num_classes = num_classes
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.long_side = long_side

    def __len__(self) -> int:
        return self.num_classes * self.samples_per_class

    def template(self, class_id: int) -> Template:
        return make_template(self.seed, class_id)

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        class_id, instance = divmod(index, self.samples_per_class)
        image = render(self.template(class_id), [self.seed, class_id, instance, epoch], self.long_side)
        return image, class_id
