"""Models side by side on one evaluation folder, with how much of each difference is the set's noise.

    python bench/compare.py --data held_out/templates --models assets/model.onnx exports/cpu96l.onnx
    python bench/compare.py --data held_out/pdf_pages --models assets/model.onnx runs/cpu96l   # a run: its checkpoint

The reporting sets are small (a few hundred queries of a hundred types), and the low-FPR figures
rest on the few highest-scoring impostor pairs, so one figure each says little about whether two
models differ. This script scores every query of every model once, then resamples the query types
with replacement (a type's queries travel together: its look-alike impostors are what move TPR at
low FPR) and recomputes top-1, ROC AUC and TPR at FPR 1e-3 and 1e-4 for all models on the same
resamples. It prints each figure with its bootstrap interval and each model's difference from the
first (the reference) with the interval of that paired difference. Writes JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.scores import HEADLINE, headline_metrics  # noqa: E402
from eval import ScoredSet, checkpoint_embedder, onnx_embedder, score_eval_set  # noqa: E402
from infer import (
    HeaderCheck,  # noqa: E402
    InferError,  # noqa: E402
    PaletteCheck,  # noqa: E402
)


def type_resamples(query_folder: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of ``resamples`` draws of the query types with replacement, all of a type's rows each time."""
    folders, inverse = np.unique(query_folder, return_inverse=True)
    members = [np.flatnonzero(inverse == i) for i in range(len(folders))]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[i] for i in rng.integers(0, len(folders), len(folders))]) for _ in range(resamples)]


def compare(scored: list[ScoredSet], resamples: int = 2000, seed: int = 0, level: float = 0.95) -> list[dict]:
    """For each model: its figures on the whole set, their bootstrap intervals, and (after the first)
    the difference from the first model with the interval of the paired difference."""
    folders = scored[0].query_folder
    if any(not np.array_equal(s.query_folder, folders) or not np.array_equal(s.truth, scored[0].truth) for s in scored):
        raise ValueError("the models did not score the same queries (an image was skipped for one of them?)")
    draws = type_resamples(folders, resamples, seed)
    boot = np.array(
        [[[headline_metrics(s.scores[rows], s.truth[rows])[k] for k in HEADLINE] for s in scored] for rows in draws]
    )
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    figures = [headline_metrics(s.scores, s.truth) for s in scored]
    results = []
    for m, full in enumerate(figures):
        row = {
            "figures": full,
            "interval": dict(zip(HEADLINE, np.percentile(boot[:, m], [lo, hi], axis=0).T.tolist(), strict=True)),
        }
        if m:
            diff = boot[:, m] - boot[:, 0]
            row["difference"] = {k: full[k] - figures[0][k] for k in HEADLINE}
            row["difference_interval"] = dict(
                zip(HEADLINE, np.percentile(diff, [lo, hi], axis=0).T.tolist(), strict=True)
            )
            row["share_ahead"] = dict(zip(HEADLINE, (diff > 0).mean(0).tolist(), strict=True))
        results.append(row)
    return results


def _cell(value: float, interval: list[float], key: str, sign: str = "") -> str:
    """A figure and its interval, to the precision the figure needs (ROC AUC differs in the 4th place)."""
    d = 5 if key == "auc" else 3
    return f"{value:{sign}.{d}f} [{interval[0]:{sign}.{d}f}, {interval[1]:{sign}.{d}f}]"


def embedder_for(path: str):
    return onnx_embedder(path) if path.endswith(".onnx") else checkpoint_embedder(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with register/ and queries/<type>/")
    parser.add_argument(
        "--models", nargs="+", required=True, help="ONNX models or checkpoints; the first is the reference"
    )
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--level", type=float, default=0.95, help="interval coverage")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument(
        "--palette",
        action="store_true",
        help="every model with infer.py's palette check on close calls (eval.py's default)",
    )
    parser.add_argument(
        "--header-check",
        action="store_true",
        help="every model with infer.py's header check on close calls (eval.py's default), before the palette's",
    )
    args = parser.parse_args(argv)
    warn = lambda m: print(f"warning: {m}", file=sys.stderr)  # noqa: E731
    try:
        palette = PaletteCheck() if args.palette else None
        header = HeaderCheck() if args.header_check else None
        scored = [
            score_eval_set(embedder_for(m), Path(args.data), warn=warn, palette=palette, header=header)
            for m in args.models
        ]
        results = compare(scored, args.resamples, args.seed, args.level)
    except (InferError, FileNotFoundError, ValueError) as e:
        print(f"compare.py: error: {e}", file=sys.stderr)
        return 2
    s = scored[0]
    print(
        f"{args.data}: {len(np.unique(s.query_folder))} query types, {len(s.truth)} queries, {s.scores.shape[1]} registered types; "
        f"{args.resamples} paired resamples of the query types, {100 * args.level:.0f} % intervals"
    )
    print(f"{'model':40s}" + "".join(f"{k:>30s}" for k in HEADLINE))
    for name, r in zip(args.models, results, strict=True):
        cells = [_cell(r["figures"][k], r["interval"][k], k) for k in HEADLINE]
        print(f"{name[-40:]:40s}" + "".join(f"{c:>30s}" for c in cells))
        if "difference" in r:
            cells = [_cell(r["difference"][k], r["difference_interval"][k], k, sign="+") for k in HEADLINE]
            print(f"{'  minus the reference':40s}" + "".join(f"{c:>30s}" for c in cells))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        payload = {"data": args.data, "resamples": args.resamples, "level": args.level, "seed": args.seed}
        payload["models"] = [{"model": m, **r} for m, r in zip(args.models, results, strict=True)]
        Path(args.json).write_text(json.dumps(payload, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
