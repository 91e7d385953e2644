"""The palette check (infer.py: close calls re-ranked by colour), calibrated and measured on one
evaluation folder (``register/`` + ``queries/<type>/``, as eval.py reads).

    python -m data.samples --eval-set held_out/sl_val_families --types 200 --unknown-types 50 --seed 5150
    python bench/palette.py --data held_out/sl_val_families --model assets/model.onnx        # calibrate
    python bench/palette.py --data held_out/lookalike/lookalike_templates --model assets/model.onnx

1. Every query's type scores and palette, and every register example's palette, once; then each
   setting of the sweep (trigger margin × weight, k = 5) replayed with infer.py's own
   ``PaletteCheck``: top-1, how often it triggers, first choices fixed and broken, and at the model's
   policy (its decision table at this register's size) the right answers accepted and the unknown
   queries rejected. The embedding alone is the first row.
2. The live path: ``DocClassifier.match`` with the palette check at infer.py's defaults, which must
   give the replayed top-1, and its cost per query.

Calibrate on validation folders, never on the reporting sets.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval import load_eval_set  # noqa: E402
from infer import DocClassifier, InferError, PaletteCheck, palette_signature  # noqa: E402


def replay(scores, names, queries, examples, truth, check: PaletteCheck):
    """Top-1 choice and score of every query with ``check`` (None: the embedding alone)."""
    best, best_score, fired = np.zeros(len(scores), np.int64), np.zeros(len(scores)), 0
    for q, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[: max(check.k if check else 2, 2)]
        if check is None or row[order[0]] - row[order[1]] >= check.margin or queries[q][-1] < check.min_colour:
            best[q], best_score[q] = order[0], row[order[0]]
            continue
        fired += 1
        top = [(str(j), row[j]) for j in order]
        new, rank, _, _ = check.rescore(top, queries[q], [examples[j] for j in order[: check.k]])[0]
        best[q], best_score[q] = order[rank], new
    return best, best_score, fired


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="assets/model.onnx")
    parser.add_argument("--margins", type=float, nargs="+", default=[0.04, 0.08, 0.12, 0.2])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.04, 0.08, 0.12, 0.16, 0.25])
    args = parser.parse_args(argv)
    data = Path(args.data)
    try:
        types, register, queries = load_eval_set(data, print)
        clf = DocClassifier(args.model, data / "register", cache=False, palette=False, warn=lambda m: None)
    except InferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = [p for _, p in queries]
    truth = np.array([t for t, _ in queries])
    scores, names = clf.type_scores(clf.embed(paths))
    order = [names.index(t) for t in types]  # columns in the set's type order
    scores = scores[:, order].astype(np.float64)
    t0 = time.perf_counter()
    q_palettes = [palette_signature(p) for p in paths]
    per_query_ms = 1000 * (time.perf_counter() - t0) / len(paths)
    examples: list[list[np.ndarray]] = [[] for _ in types]
    for t, p in register:
        examples[t].append(palette_signature(p))
    known = truth >= 0
    threshold = clf.policy().threshold
    print(
        f"{data}: {len(types)} types, {known.sum()} known and {(~known).sum()} unknown queries; "
        f"policy threshold {threshold:.3f}; a palette costs {per_query_ms:.2f} ms per image"
    )
    print(
        f"{'setting':<28}{'top-1':>7}{'fired':>7}{'fixed':>7}{'broke':>7}{'right accepted':>16}{'unknown rejected':>18}"
    )
    base, _, _ = replay(scores, names, q_palettes, examples, truth, None)
    settings = [None] + [PaletteCheck(margin=m, weight=w) for m in args.margins for w in args.weights]
    for check in settings:
        best, best_score, fired = replay(scores, names, q_palettes, examples, truth, check)
        right = best == truth
        fixed = int((right & (base != truth))[known].sum())
        broke = int((~right & (base == truth))[known].sum())
        accepted = (best_score >= threshold) & right
        name = "embedding alone" if check is None else f"margin {check.margin:g}, weight {check.weight:g}"
        rejected = (best_score[~known] < threshold).mean() if (~known).any() else float("nan")
        print(
            f"{name:<28}{right[known].mean():>7.3f}{fired:>7}{fixed:>7}{broke:>7}"
            f"{accepted[known].sum() / max(right[known].sum(), 1):>16.3f}{rejected:>18.3f}"
        )
    live = DocClassifier(args.model, data / "register", cache=False, warn=lambda m: None)
    t0 = time.perf_counter()
    matches = live.match(live.embed(paths), images=paths)
    ms = 1000 * (time.perf_counter() - t0) / len(paths)
    live_top1 = np.mean([m.top[0][0] == types[t] for m, t in zip(matches, truth, strict=True) if t >= 0])
    replayed = replay(scores, names, q_palettes, examples, truth, PaletteCheck())[0]
    print(
        f"live DocClassifier.match at the defaults {PaletteCheck()}: top-1 {live_top1:.3f} "
        f"(replayed {np.mean((replayed == truth)[known]):.3f}); {ms:.2f} ms per query (embed + match + palette)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
