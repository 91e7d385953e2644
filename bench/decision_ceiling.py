"""How far a threshold on the best score can take the decision as the register grows (issue 21), for
one or more models on one validation folder: registers of N of the folder's types drawn at random
(the same draws for every model), each query decided on its best type in the draw, and two figures
for each false-accept target f:

- oracle: the share of right-ranked known queries accepted at the threshold that lets exactly f of
  this folder's unknown queries through (set on the evaluated draws themselves: the ceiling of any
  threshold rule on these scores, not a result a shipped policy could reach);
- policy: the model's own decision table at f (what infer.py does), right-ranked answers accepted
  and unknown queries rejected.

    python bench/decision_ceiling.py --data held_out/lookalike_val_1k --models assets/model.onnx exports/other.onnx

Scores as eval.py computes them, with infer.py's default checks (``--checks on``), without
(``off``) or both. Validation folders only: a folder of the reporting sets would be tuned on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval import onnx_embedder, score_eval_set  # noqa: E402
from infer import HeaderCheck, InferError, PaletteCheck  # noqa: E402


def draw_decisions(scores: np.ndarray, truth: np.ndarray, size: int, draws: int, seed: int):
    """Over ``draws`` registers of ``size`` types: every query's best score in the draw and its kind
    (1 right-ranked known, 2 wrong-ranked known, 0 unknown: its type not in the draw)."""
    rng = np.random.default_rng([seed, size])
    best, kinds = [], []
    for _ in range(draws):
        chosen = rng.choice(scores.shape[1], size, replace=False)
        sub = scores[:, chosen]
        top = sub.argmax(1)
        known = np.isin(truth, chosen)
        best.append(sub[np.arange(len(sub)), top])
        kinds.append(np.where(known, np.where(chosen[top] == truth, 1, 2), 0))
    return np.concatenate(best), np.concatenate(kinds)


def share(accepted: np.ndarray) -> str:
    return f"{accepted.mean():.3f}" if accepted.size else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a validation folder (register/ + queries/<type>/)")
    parser.add_argument("--models", nargs="+", default=["assets/model.onnx"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--fprs", type=float, nargs="+", default=[0.02, 0.05])
    parser.add_argument("--checks", choices=["on", "off", "both"], default="on")
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = {"on": [True], "off": [False], "both": [False, True]}[args.checks]
    print("model | checks | top-1 | N | f | oracle: right accepted (pages / templates) | policy: threshold, right accepted, unknown rejected")  # fmt: skip
    try:
        for model in args.models:
            embedder = onnx_embedder(model)
            for checks in settings:
                scored = score_eval_set(
                    embedder,
                    Path(args.data),
                    palette=PaletteCheck() if checks else None,
                    header=HeaderCheck() if checks else None,
                    warn=lambda m: print(m, file=sys.stderr),
                )
                scores, truth = scored.scores, scored.truth
                page = np.char.startswith(scored.query_folder.astype(str), "page")
                known = truth >= 0
                top1 = float(np.mean(scores[known].argmax(1) == truth[known]))
                for size in args.sizes:
                    if size >= scores.shape[1]:
                        print(f"{Path(model).stem} | N={size}: the folder has {scores.shape[1]} types; skipped")
                        continue
                    best, kind = draw_decisions(scores, truth, size, args.draws, args.seed)
                    pages = np.tile(page, args.draws)
                    right = kind == 1
                    for fpr in args.fprs:
                        oracle = np.quantile(best[kind == 0], 1 - fpr)
                        kept = [share(best[right & m] >= oracle) for m in (True, pages, ~pages)]
                        policy = "no decision table in the model"
                        if embedder.table is not None:
                            t = embedder.table.threshold(size, fpr)
                            policy = f"{t:.3f}, {np.mean(best[right] >= t):.3f}, {np.mean(best[kind == 0] < t):.3f}"
                        print(
                            f"{Path(model).stem} | {'on' if checks else 'off'} | {top1:.4f} | {size} | {fpr:g} | "
                            f"{kept[0]} ({kept[1]} / {kept[2]}) | {policy}",
                            flush=True,
                        )
    except InferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
