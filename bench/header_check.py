"""The header check (infer.py: close calls re-ranked by the tops of the pages, embedded on their own),
calibrated on one validation folder (``register/`` + ``queries/<type>/``, as eval.py reads).

    python -m bench.lookalike_set --out held_out/lookalike_val_1k --pdf-root data_cache/pdfs/val \\
        --families 250 --pages 700 --unknown-share 0.15 --seed 314159
    python bench/header_check.py --data held_out/lookalike_val_1k --model assets/model.onnx

For each strip height, every query's header scores against its best ``k`` types are computed once
(the check forced on), then each (margin, weight) is replayed with infer.py's own formula
(``rerank_by``), followed by the palette check as infer.py applies it (``--no-palette``: without).
Prints top-1 (all; template and page types apart: a type whose name starts with ``page_`` is a
page), TPR at FPR 1e-3 and how often the check triggers; the first row is without the header check.
Then ``DocClassifier.match`` is timed with the check off and at infer.py's defaults, and the live
check's first choices are compared with the replayed ones. Calibrate on validation data only.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.scores import evaluate_scores  # noqa: E402
from eval import load_eval_set  # noqa: E402
from infer import (  # noqa: E402
    DEFAULT_MODEL,
    DocClassifier,
    HeaderCheck,
    InferError,
    rerank_by,
    top_indices,
)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def strip_embeddings(clf: DocClassifier, items: list, strip: float, desc: str) -> list[np.ndarray | None]:
    """Each item's header strip embedded (None: unreadable), decoded as infer.py decodes it."""
    check = HeaderCheck(strip=strip)
    out: list[np.ndarray | None] = []
    for item in tqdm(items, desc=desc, unit="image", leave=False):
        try:
            out.append(clf.model(check.strip_array(clf.model, item)[None])[0])
        except InferError:
            out.append(None)
    return out


def replay(
    clf: DocClassifier,
    base: np.ndarray,
    names: list[str],
    paths: list,
    query_headers: list,
    type_headers: list,
    check: HeaderCheck | None,
) -> tuple[np.ndarray, float]:
    """The (queries × types) scores with ``check`` (None: off), then the palette check when
    ``clf.palette`` is on; each query's first choice as infer.py makes it (among the re-ranked best
    types: in the matrix a type below them may overtake the ones the checks lowered); and the share
    of queries the header check ran on."""
    scores, ran, first = base.copy(), 0, []
    column = {n: i for i, n in enumerate(names)}
    width = max(2, check.k if check else 0, clf.palette.k if clf.palette else 0)
    for q, row in enumerate(scores):
        indices = top_indices(row, width)
        top = [(names[i], float(row[i])) for i in indices]
        if check is not None and check.triggers(top) and query_headers[q] is not None:
            ran += 1
            sims = []
            for j in indices[: check.k]:
                mine = [e for e in type_headers[j] if e is not None]
                sims.append(max(((float(query_headers[q] @ e) + 1.0) / 2.0 for e in mine), default=None))
            ranked = rerank_by(top[: check.k], sims, check.weight)
            for new, rank, _, _ in ranked:
                row[indices[rank]] = new
            top = [(label, new) for new, _, label, _ in ranked] + top[check.k :]
            indices = np.array([indices[rank] for _, rank, _, _ in ranked] + list(indices[check.k :]))
        if clf.palette is not None:
            top, _, found = clf._palette_check(paths[q], indices, top)
            for c in (found or {}).get("candidates", []):
                row[column[c["label"]]] = c["score"]
        first.append(column[top[0][0]])
    return scores, np.array(first), ran / len(scores)


def figures(scores: np.ndarray, first: np.ndarray, truth: np.ndarray, threshold: float, page: np.ndarray) -> dict:
    """Top-1 of infer.py's first choices (all, templates, pages); ROC figures of the score matrix."""
    ev = evaluate_scores(scores, truth, threshold)
    known = truth >= 0
    right = first == truth
    at = {p.target_fpr: p.tpr for p in ev.points}
    return {
        "top1": float(right[known].mean()),
        "top1_templates": float(right[known & ~page].mean()) if (known & ~page).any() else None,
        "top1_pages": float(right[known & page].mean()) if (known & page).any() else None,
        "tpr@1e-3": at[1e-3],
    }


def main(argv=None) -> int:
    defaults = HeaderCheck()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--strips", default="0.25,0.35,0.5", help="strip heights swept (share of the page)")
    parser.add_argument("--margins", default="0.05,0.1,0.15,1", help="trigger margins swept (1: every query)")
    parser.add_argument("--weights", default="0.25,0.5,0.75,1", help="weights swept")
    parser.add_argument("--k", type=int, default=defaults.k)
    parser.add_argument(
        "--no-palette", dest="palette", action="store_false", help="the palette check off (infer.py --no-palette)"
    )
    parser.add_argument("--out", default=None, help="JSON (default: runs/eval/header_check-<data>.json)")
    args = parser.parse_args(argv)
    warn = lambda m: print(f"warning: {m}", file=sys.stderr)  # noqa: E731
    data = Path(args.data)
    try:
        _, _, queries = load_eval_set(data, warn)
        clf = DocClassifier(
            args.model, data / "register", cache=False, warn=lambda m: None, palette=args.palette, header=False
        )
        paths, kept = [p for _, p in queries], []
        embeddings = []
        for path in tqdm(paths, desc="embedding", unit="query", leave=False):
            try:
                embeddings.append(clf.embed(path)[0])
                kept.append(path)
            except InferError as e:
                warn(f"{e}; skipped")
    except (InferError, FileNotFoundError) as e:
        print(f"header_check.py: error: {e}", file=sys.stderr)
        return 2
    paths = kept
    base, names = clf.type_scores(np.stack(embeddings))
    index = {n: i for i, n in enumerate(names)}
    truth = np.array([index.get(Path(getattr(p, "path", p)).parent.name, -1) for p in paths])
    page = np.array([Path(getattr(p, "path", p)).parent.name.startswith("page_") for p in paths])
    threshold = clf.threshold
    order, bounds = clf._rows
    rows = [
        {
            "setting": "no header check",
            **figures(*replay(clf, base, names, paths, [], [], None)[:2], truth, threshold, page),
        }
    ]
    replayed_default = None
    for strip in floats(args.strips):
        query_headers = strip_embeddings(clf, paths, strip, f"query strips {strip}")
        keys = clf._row_key[order]
        examples = strip_embeddings(clf, [clf._example_source(k) for k in keys], strip, f"register strips {strip}")
        type_headers = [examples[bounds[j] : bounds[j + 1]] for j in range(len(names))]
        for margin, weight in itertools.product(floats(args.margins), floats(args.weights)):
            check = HeaderCheck(margin=min(margin, 1.0), k=args.k, weight=weight, strip=strip)
            scores, first, ran = replay(clf, base, names, paths, query_headers, type_headers, check)
            rows.append(
                {
                    "setting": dataclasses.asdict(check),
                    **figures(scores, first, truth, threshold, page),
                    "triggered": ran,
                }
            )
            if check == dataclasses.replace(defaults, k=args.k):
                replayed_default = first
    print(
        f"{data} ({len(names)} types, {len(paths)} queries), {Path(args.model).name}, palette check {'on' if args.palette else 'off'}"
    )
    print(
        f"{'strip':>5} {'margin':>6} {'weight':>6}  {'top-1':>6} {'templates':>9} {'pages':>6} {'TPR@1e-3':>8} {'runs on':>7}"
    )
    for r in rows:
        s = r["setting"]
        head = (
            f"{'off':>5} {'':>6} {'':>6}"
            if isinstance(s, str)
            else f"{s['strip']:>5} {s['margin']:>6} {s['weight']:>6}"
        )
        fmt = lambda v: f"{v:.4f}" if v is not None else "-"  # noqa: E731
        print(
            f"{head}  {fmt(r['top1']):>6} {fmt(r['top1_templates']):>9} {fmt(r['top1_pages']):>6} "
            f"{fmt(r['tpr@1e-3']):>8} {r.get('triggered', 0):>7.0%}"
        )
    # Timing and agreement at infer.py's defaults, live.
    timing = {}
    for name, header in (("off", False), ("on", dataclasses.replace(defaults, k=args.k))):
        live = DocClassifier(
            args.model, data / "register", cache=False, warn=lambda m: None, palette=args.palette, header=header
        )
        live.prepare()
        live.match(np.stack(embeddings[:1]), images=paths[:1])  # warm
        t0 = time.perf_counter()
        matches = live.match(np.stack(embeddings), images=paths)
        timing[name] = 1000 * (time.perf_counter() - t0) / len(paths)
        if name == "on" and replayed_default is not None:
            agree = float(np.mean([m.top[0][0] == names[i] for m, i in zip(matches, replayed_default, strict=True)]))
            timing["live_agrees_with_replay"] = agree
    print(
        f"match (the checks, not the embedding): {timing['off']:.2f} ms per query off, {timing['on']:.2f} ms on at the defaults"
    )
    if "live_agrees_with_replay" in timing:
        print(
            f"  live check's first choices equal the replayed ones for {timing['live_agrees_with_replay']:.1%} of queries"
        )
    out = Path(args.out) if args.out else Path("runs") / "eval" / f"header_check-{data.resolve().name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"data": str(data), "model": args.model, "palette": args.palette, "sweep": rows, "ms_per_query": timing},
            indent=2,
        )
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
