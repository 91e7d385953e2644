"""Synthetic document types rendered in memory, so training needs no data on disk.

A class is a *template*: page aspect, colours, header, and the places and kinds of its blocks (text
columns, a photo, a logo, a table, a barcode) are drawn from the class id. Each instance of the
class fills that layout with different content (text, photo, barcode) and small jitter. The model
learns "same layout, different content", which is what matching against a register needs.
Everything is a pure function of (seed, class id, instance, epoch). The "Document data" issue
grows this into the full generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ASPECTS = (1.586, 1.414, 0.707, 0.707, 1.0, 0.5)  # ID card, landscape A4, portrait A4 (×2), square, receipt
BLOCK_KINDS = ("text", "text", "text", "photo", "logo", "table", "barcode", "title")


@dataclass
class Block:
    kind: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the page
    color: tuple[int, int, int]
    lines: int


@dataclass
class Template:
    aspect: float
    background: tuple[int, int, int]
    ink: tuple[int, int, int]
    header: tuple[int, int, int] | None
    header_height: float
    border: bool
    blocks: list[Block]


def _color(rng: np.random.Generator, lo: int, hi: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi, 3))


def make_template(seed: int, class_id: int) -> Template:
    rng = np.random.default_rng([seed, class_id, 0x7E])
    header = _color(rng, 20, 200) if rng.random() < 0.6 else None
    header_height = float(rng.uniform(0.08, 0.2)) if header else 0.0
    blocks = []
    top = header_height + 0.04
    # Lay blocks out on a coarse grid of rows, 1–3 columns each, so they never overlap.
    while top < 0.9:
        height = float(rng.uniform(0.08, 0.3))
        cols = int(rng.integers(1, 4))
        widths = rng.dirichlet(np.ones(cols) * 2) * 0.9
        x = 0.05
        for w in widths:
            if rng.random() < 0.85:
                kind = str(rng.choice(BLOCK_KINDS))
                box = (x, top, x + float(w) - 0.02, min(top + height, 0.96))
                blocks.append(Block(kind, box, _color(rng, 0, 180), int(rng.integers(1, 6))))
            x += float(w)
        top += height + float(rng.uniform(0.01, 0.05))
    return Template(
        aspect=float(rng.choice(ASPECTS)) * float(rng.uniform(0.95, 1.05)),
        background=_color(rng, 200, 256),
        ink=_color(rng, 0, 90),
        header=header,
        header_height=header_height,
        border=bool(rng.random() < 0.4),
        blocks=blocks,
    )


def render(template: Template, content_seed: list[int], long_side: int = 256) -> Image.Image:
    """One instance of ``template``: the same layout, content drawn from ``content_seed``."""
    rng = np.random.default_rng(content_seed)
    if template.aspect >= 1:
        w, h = long_side, max(8, round(long_side / template.aspect))
    else:
        w, h = max(8, round(long_side * template.aspect)), long_side
    img = Image.new("RGB", (w, h), template.background)
    draw = ImageDraw.Draw(img)
    if template.header:
        draw.rectangle([0, 0, w, template.header_height * h], fill=template.header)
    if template.border:
        draw.rectangle([2, 2, w - 3, h - 3], outline=template.ink, width=max(1, w // 128))
    jitter = 0.01
    for block in template.blocks:
        dx, dy = rng.uniform(-jitter, jitter, 2)
        x0, y0, x1, y1 = block.box
        box = [(x0 + dx) * w, (y0 + dy) * h, (x1 + dx) * w, (y1 + dy) * h]
        _draw_block(draw, block, box, template.ink, rng)
    return img


def _draw_block(draw: ImageDraw.ImageDraw, block: Block, box, ink, rng: np.random.Generator) -> None:
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    if bw < 4 or bh < 4:
        return
    if block.kind == "text":
        n = block.lines + int(rng.integers(0, 3))
        line_h = bh / (n + 0.5)
        for i in range(n):
            y = y0 + i * line_h + line_h * 0.3
            x, end = x0, x0 + bw * float(rng.uniform(0.5, 1.0))
            while x < end:  # words as bars: content varies, the column stays put
                word = bw * float(rng.uniform(0.05, 0.2))
                draw.rectangle([x, y, min(x + word, end), y + max(1.0, line_h * 0.45)], fill=ink)
                x += word + bw * 0.03
    elif block.kind == "title":
        size = max(6, int(min(bh * 0.6, 48)))
        font = ImageFont.load_default(size=size)
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        text = "".join(letters[int(i)] for i in rng.integers(0, 26, int(rng.integers(4, 10))))
        draw.text((x0, y0), text, fill=block.color, font=font)
    elif block.kind == "photo":
        side = min(bw, bh)
        draw.rectangle([x0, y0, x0 + side * 0.8, y0 + side], fill=_color(rng, 120, 230))
        face = _color(rng, 90, 220)
        draw.ellipse([x0 + side * 0.2, y0 + side * 0.15, x0 + side * 0.6, y0 + side * 0.6], fill=face)
        draw.ellipse([x0 + side * 0.05, y0 + side * 0.6, x0 + side * 0.75, y0 + side * 1.3], fill=face)
    elif block.kind == "logo":
        side = min(bw, bh)
        draw.ellipse([x0, y0, x0 + side, y0 + side], fill=block.color)
        draw.ellipse([x0 + side * 0.3, y0 + side * 0.3, x0 + side * 0.7, y0 + side * 0.7], fill=(255, 255, 255))
    elif block.kind == "table":
        rows, cols = block.lines + 1, 3
        for r in range(rows + 1):
            y = y0 + bh * r / rows
            draw.line([x0, y, x1, y], fill=block.color, width=1)
        for c in range(cols + 1):
            x = x0 + bw * c / cols
            draw.line([x, y0, x, y1], fill=block.color, width=1)
        for r in range(rows):
            for c in range(cols):
                if rng.random() < 0.7:
                    cx, cy = x0 + bw * c / cols + 2, y0 + bh * (r + 0.35) / rows
                    draw.rectangle([cx, cy, cx + bw / cols * float(rng.uniform(0.2, 0.8)), cy + 2], fill=ink)
    elif block.kind == "barcode":
        x = x0
        while x < x1:
            bar = float(rng.uniform(0.5, 3.0))
            if rng.random() < 0.5:
                draw.rectangle([x, y0, x + bar, y1], fill=(0, 0, 0))
            x += bar + 1


class SyntheticDocuments:
    """``num_classes`` templates × ``samples_per_class`` instances each; ``load(i, epoch)`` → (PIL, label)."""

    def __init__(self, num_classes: int, samples_per_class: int, seed: int = 0, long_side: int = 256):
        self.num_classes = num_classes
        self.samples_per_class = samples_per_class
        self.seed = seed
        self.long_side = long_side
        self._templates: dict[int, Template] = {}  # per worker, filled lazily

    def __len__(self) -> int:
        return self.num_classes * self.samples_per_class

    def template(self, class_id: int) -> Template:
        if class_id not in self._templates:
            self._templates[class_id] = make_template(self.seed, class_id)
        return self._templates[class_id]

    def load(self, index: int, epoch: int = 0) -> tuple[Image.Image, int]:
        class_id, instance = divmod(index, self.samples_per_class)
        image = render(self.template(class_id), [self.seed, class_id, instance, epoch], self.long_side)
        return image, class_id
