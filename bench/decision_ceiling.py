"""How far a threshold on the best score can take the decision as the register grows (issue 21), for
one or more models on one validation folder: registers of N of the folder's types drawn at random
(the same draws for every model), each query decided on its best type in the draw, and two figures
for each false-accept target f:

- oracle: the share of right-ranked known queries accepted at the threshold that lets exactly f of
  this folder's unknown queries through (set on the evaluated draws themselves: the ceiling of any
  threshold rule on these scores, not a result a shipped policy could reach);
- policy: what infer.py decides at f: the model's decision table, lowered where each drawn
  register's own examples seen as photos allow (``policy.resolve_policy``, the self-calibration;
  the threshold printed is the draws' mean); right-ranked answers accepted and unknown queries
  rejected.

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
from policy import RegisterSettings, resolve_policy  # noqa: E402


def draw_decisions(scores: np.ndarray, truth: np.ndarray, size: int, draws: int, seed: int):
    """Over ``draws`` registers of ``size`` types: every query's best score in the draw and its kind
    (1 right-ranked known, 2 wrong-ranked known, 0 unknown: its type not in the draw), and the
    types each draw chose."""
    rng = np.random.default_rng([seed, size])
    best, kinds, drawn = [], [], []
    for _ in range(draws):
        chosen = rng.choice(scores.shape[1], size, replace=False)
        sub = scores[:, chosen]
        top = sub.argmax(1)
        known = np.isin(truth, chosen)
        best.append(sub[np.arange(len(sub)), top])
        kinds.append(np.where(known, np.where(chosen[top] == truth, 1, 2), 0))
        drawn.append(chosen)
    return np.concatenate(best), np.concatenate(kinds), drawn


def policy_thresholds(embedder, own: np.ndarray | None, size: int, fpr: float, drawn: list) -> np.ndarray:
    """infer.py's threshold at ``fpr`` for each drawn register (``own``: each type's view against
    every other type, ``ScoredSet.own``; None: the table alone)."""
    out = []
    for chosen in drawn:
        views = None if own is None else (lambda c=chosen: own[np.ix_(c, c)].max(1))
        r = resolve_policy(size, embedder.table, embedder.calibration, RegisterSettings(), fpr=fpr, own=views)
        out.append(r.threshold)
    return np.array(out)


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
                    views=embedder.table is not None,
                )
                scores, truth = scored.scores, scored.truth
                page = np.char.startswith(scored.query_folder.astype(str), "page")
                known = truth >= 0
                top1 = float(np.mean(scores[known].argmax(1) == truth[known]))
                for size in args.sizes:
                    if size >= scores.shape[1]:
                        print(f"{Path(model).stem} | N={size}: the folder has {scores.shape[1]} types; skipped")
                        continue
                    best, kind, drawn = draw_decisions(scores, truth, size, args.draws, args.seed)
                    pages = np.tile(page, args.draws)
                    right = kind == 1
                    for fpr in args.fprs:
                        oracle = np.quantile(best[kind == 0], 1 - fpr)
                        kept = [share(best[right & m] >= oracle) for m in (True, pages, ~pages)]
                        policy = "no decision table in the model"
                        if embedder.table is not None:
                            per_draw = policy_thresholds(embedder, scored.own, size, fpr, drawn)
                            t = np.repeat(per_draw, len(truth))  # each query of each draw at its draw's threshold
                            accepted = best >= t
                            policy = f"{per_draw.mean():.3f}, {np.mean(accepted[right]):.3f}, {np.mean(~accepted[kind == 0]):.3f}"
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
