"""A review report of a classification run: one self-contained HTML file a person can look at.

    python infer.py scans/ intake.pdf --report results.html

Per input (page of a PDF or TIFF, or image) its thumbnail beside the register example it matched
best, the label (or "unknown"), the score and the top k; unknown and ambiguous answers come first
and are highlighted, then the rest in input order; a filter by label and a text search. Thumbnails
are inlined as small JPEGs (data: URIs): the file makes no requests and opens from disk, mailed or
archived as it is. Pillow only (no torch, no templates).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path

from PIL import Image

from atomic import write_atomic

THUMB_SIDE = 220  # pixels on the long side
THUMB_QUALITY = 70


def thumbnail(image: Image.Image, side: int = THUMB_SIDE) -> str:
    """A small JPEG of ``image`` as a data: URI."""
    im = image.convert("RGB")
    im.thumbnail((side, side), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _status(r: dict) -> str:
    if "error" in r:
        return "error"
    if r.get("label") is None:
        return "unknown"
    return "ambiguous" if r.get("ambiguous") else "matched"


ORDER = {"error": 0, "unknown": 1, "ambiguous": 2, "matched": 3}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:10px 16px;z-index:1}
h1{font-size:18px;margin:0 0 6px}
.meta{color:#555;font-size:12px}
.controls{margin-top:8px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
.counts span{margin-right:10px}
main{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px;padding:12px 16px}
.card{background:#fff;border:1px solid #ddd;border-left:6px solid #16a34a;border-radius:6px;padding:10px}
.card.unknown{border-left-color:#dc2626;background:#fef2f2}
.card.ambiguous{border-left-color:#d97706;background:#fffbeb}
.card.error{border-left-color:#6b7280;background:#f9fafb}
.pair{display:flex;gap:10px;align-items:flex-start;flex-wrap:wrap}
.pair figure{margin:0;text-align:center;font-size:11px;color:#555}
.pair img{max-width:200px;max-height:200px;border:1px solid #ccc;background:#fff}
.noimg{width:150px;height:150px;display:flex;align-items:center;justify-content:center;border:1px dashed #bbb;color:#999}
.answer{font-size:16px;font-weight:600;margin:6px 0 2px}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 6px;border-radius:9px;margin-left:6px;color:#fff}
.badge.unknown{background:#dc2626}.badge.ambiguous{background:#d97706}.badge.error{background:#6b7280}
.path{font-family:ui-monospace,monospace;font-size:12px;color:#333;word-break:break-all}
ol{margin:4px 0 0;padding-left:20px;font-size:12px;min-width:140px}
.hidden{display:none}
"""

SCRIPT = """
const cards = Array.from(document.querySelectorAll('.card'));
const pick = document.getElementById('label');
const text = document.getElementById('search');
function apply() {
  const want = pick.value, q = text.value.toLowerCase();
  let shown = 0;
  for (const c of cards) {
    const ok = (want === '*' || c.dataset.filter.split(' ').includes(want)) &&
               (!q || c.dataset.search.includes(q));
    c.classList.toggle('hidden', !ok);
    shown += ok;
  }
  document.getElementById('shown').textContent = shown;
}
pick.addEventListener('change', apply);
text.addEventListener('input', apply);
const hash = new URLSearchParams(location.hash.slice(1));  // report.html#label=unknown&q=invoice
if (hash.has('label')) pick.value = hash.get('label');
if (hash.has('q')) text.value = hash.get('q');
apply();
"""


def _card(r: dict, k: int) -> str:
    status = _status(r)
    name = f"{r['path']}#page={r['page']}" if "page" in r else r.get("path", "")
    label = r.get("label")
    top = r.get("top_k", [])
    closest = top[0]["label"] if top else ""
    filters = {status, label or "", closest} - {""}  # an unknown answer is found under its closest type too
    query = f'<img src="{r["thumb"]}" alt="query">' if r.get("thumb") else '<div class="noimg">no picture</div>'
    example = (
        f'<img src="{r["example_thumb"]}" alt="register example">'
        if r.get("example_thumb")
        else '<div class="noimg">no example</div>'
    )
    if status == "error":  # nothing to show but what went wrong
        return (
            f'<section class="card error" data-filter="error" data-search="{html.escape(name.lower(), quote=True)}">'
            f'<div class="path">{html.escape(name)}</div><div class="answer">could not be read'
            f'<span class="badge error">error</span></div><div>{html.escape(r["error"])}</div></section>'
        )
    if label is None:
        answer = f'unknown<span class="badge unknown">unknown</span> <small>closest: {html.escape(closest)} {top[0]["score"]:.3f}</small>'
    else:
        answer = f"{html.escape(label)} {r['score']:.3f}"
        if r.get("ambiguous"):
            other = r["candidates"][1]
            answer += f'<span class="badge ambiguous">ambiguous</span> <small>or: {html.escape(other["label"])} {other["score"]:.3f}</small>'
    items = "".join(f"<li>{html.escape(t['label'])} {t['score']:.3f}</li>" for t in top[:k])
    search = html.escape(" ".join([name, *(t["label"] for t in top)]).lower(), quote=True)
    match_caption = f"best register example: {html.escape(closest)}" if closest else "register"
    return (
        f'<section class="card {status}" data-filter="{html.escape(" ".join(sorted(filters)), quote=True)}" '
        f'data-search="{search}">'
        f'<div class="path">{html.escape(name)}</div>'
        f'<div class="answer">{answer}</div>'
        f'<div class="pair"><figure>{query}<figcaption>input</figcaption></figure>'
        f"<figure>{example}<figcaption>{match_caption}</figcaption></figure>"
        f"<div>{'<ol>' + items + '</ol>' if items else ''}</div></div></section>"
    )


def render_report(results: list[dict], meta: dict, k: int = 3) -> str:
    """The HTML of a report of ``results`` (infer.py's records, with ``thumb`` and ``example_thumb``
    data URIs where there are pictures); ``meta``: the model, register and policy, shown on top."""
    ordered = sorted(results, key=lambda r: ORDER[_status(r)])  # stable: input order within a status
    counts = {s: sum(_status(r) == s for r in results) for s in ORDER}
    labels = sorted(
        {r["label"] for r in results if r.get("label")} | {t["label"] for r in results for t in r.get("top_k", [])}
    )
    options = ['<option value="*">all</option>'] + [
        f'<option value="{s}">{s} ({counts[s]})</option>' for s in ("unknown", "ambiguous", "error") if counts[s]
    ]
    options += [f'<option value="{html.escape(lb, quote=True)}">{html.escape(lb)}</option>' for lb in labels]
    policy = meta.get("policy", {})
    facts = ", ".join(
        f"{key}: {html.escape(str(value))}"
        for key, value in (
            ("model", meta.get("model")),
            ("register", meta.get("register")),
            ("threshold", policy.get("threshold")),
            ("from", policy.get("source")),  # e.g. the model's table for registers of pages: 0.02 … among 12 types
            ("types", policy.get("register_size")),
        )
        if value is not None
    )
    summary = " ".join(f"<span>{s}: {counts[s]}</span>" for s in ("matched", "ambiguous", "unknown", "error"))
    body = "\n".join(_card(r, k) for r in ordered)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>DocClassifier report: {len(results)} inputs</title><style>{STYLE}</style></head><body>"
        f'<header><h1>DocClassifier: {len(results)} inputs</h1><div class="meta">{facts}</div>'
        f'<div class="controls"><span class="counts">{summary}</span>'
        f'<label>type <select id="label">{"".join(options)}</select></label>'
        '<label>search <input id="search" type="search" placeholder="file or label"></label>'
        '<span>showing <b id="shown"></b></span></div></header>'
        f"<main>{body}</main><script>{SCRIPT}</script>"
        f'<script type="application/json" id="summary">{html.escape(json.dumps(counts))}</script></body></html>\n'
    )


def write_report(path: str | os.PathLike, results: list[dict], meta: dict, k: int = 3) -> Path:
    """Write the report atomically (a temporary file renamed into place)."""
    path = Path(path)
    text = render_report(results, meta, k)
    return write_atomic(path, text)
