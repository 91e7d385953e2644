"""Does the register-adaptive rule of bench/adaptive_threshold.py hold when it is *calibrated* the way
export_onnx.py calibrates the decision policy, on validation pools, instead of given an oracle
threshold on the evaluated set itself? Issue 21's next step, measured before building it.

    python -m data.samples --eval-set /tmp/pool_templates --types 1100 --unknown-types 0 --photos-per-type 1 --seed 2718
    python -m data.samples --eval-set /tmp/pool_pages --pdf-root data_cache/pdfs/val --types 1100 --unknown-types 0 \\
        --photos-per-type 1 --seed 2719
    python bench/neighbourhood_policy.py --pools /tmp/pool_templates /tmp/pool_pages --data held_out/lookalike_val_1k

Rules: with s1 >= s2 >= ... a query's scores against the register's types, accept when
s1 - w * mean(s2 .. s_{k+1}) reaches a threshold (w = 0: today's policy, the best score alone). For
each register size N and each pool, registers of N of the pool's types are drawn at random (Monte
Carlo, ``--draws``); the queries of the types left out are unknown; the threshold lets ``--fpr`` of
them through; the stricter of the pools' thresholds is kept (as ``policy.strictest`` does). Then on
``--data`` (another validation folder, one register example per type; types named ``page*`` are
its PDF pages), registers of N types are drawn and decided at that threshold: right-ranked known
queries accepted and unknown queries rejected, all, pages and templates apart. Embedding scores
alone (no palette check). Validation folders only, never the reporting sets.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adaptive_threshold import embed_folder  # noqa: E402

from infer import InferError  # noqa: E402

RULES = [(0.0, 1)] + [(w, k) for w in (0.25, 0.5, 0.75, 1.0) for k in (1, 3, 5, 10)]


def statistic(sub: np.ndarray, w: float, k: int) -> np.ndarray:
    """s1 - w * mean of the next k scores, per row of a (queries x register types) score matrix."""
    kk = min(k + 1, sub.shape[1])
    top = -np.partition(-sub, kk - 1, axis=1)[:, :kk]  # the kk best, any order
    top = -np.sort(-top, axis=1)  # best first
    neighbours = top[:, 1:].mean(1) if kk > 1 else np.zeros(len(sub))
    return top[:, 0] - w * neighbours


def scores(folder: dict) -> np.ndarray:
    return (folder["q"] @ folder["r"].T + 1.0) / 2.0


def calibrate(folder: dict, n: int, fpr: float, draws: int, rng) -> dict:
    s, truth = scores(folder), folder["truth"]
    values = {rule: [] for rule in RULES}
    for _ in range(draws):
        chosen = rng.choice(s.shape[1], n, replace=False)
        sub = s[~np.isin(truth, chosen)][:, chosen]
        for rule in RULES:
            values[rule].append(statistic(sub, *rule))
    return {rule: float(np.quantile(np.concatenate(v), 1 - fpr)) for rule, v in values.items()}


def evaluate(folder: dict, n: int, thresholds: dict, draws: int, rng) -> dict:
    s, truth, page = scores(folder), folder["truth"], folder["is_page"]
    out = {rule: [] for rule in RULES}
    for _ in range(draws):
        chosen = rng.choice(s.shape[1], n, replace=False)
        sub, known = s[:, chosen], np.isin(truth, chosen)
        right = known & (chosen[sub.argmax(1)] == truth)
        for rule in RULES:
            acc = statistic(sub, *rule) >= thresholds[rule]
            out[rule].append(
                [acc[right & m].mean() for m in (True, page, ~page)]
                + [1 - acc[~known & m].mean() for m in (True, page, ~page)]
            )
    return {rule: np.nanmean(np.array(v, np.float64), axis=0) for rule, v in out.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pools", nargs="+", required=True, help="validation folders the thresholds are calibrated on")
    parser.add_argument("--data", required=True, help="the validation folder the calibrated rules are tried on")
    parser.add_argument("--model", default="assets/model.onnx")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--fpr", type=float, default=0.02)
    parser.add_argument("--draws", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        names = ["q", "r", "truth", "types", "is_page"]
        pools = [dict(zip(names, embed_folder(Path(p), args.model), strict=True)) for p in args.pools]
        target = dict(zip(names, embed_folder(Path(args.data), args.model), strict=True))
    except InferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    for n in args.sizes:
        if any(n >= len(p["types"]) for p in pools) or n >= len(target["types"]):
            print(f"N={n}: more types than a folder has; skipped")
            continue
        per_pool = [calibrate(p, n, args.fpr, args.draws, rng) for p in pools]
        thresholds = {rule: max(t[rule] for t in per_pool) for rule in RULES}
        out = evaluate(target, n, thresholds, args.draws, rng)
        print(f"\nN={n}, {args.fpr:g} of the pools' unknowns let through; on {args.data}:")
        print("  rule             thresholds by pool   right accepted: all  pages  templates   unknown rejected: all  pages  templates")  # fmt: skip
        best = sorted(RULES, key=lambda r: -out[r][0])[:6]
        for rule in ([(0.0, 1)] + [r for r in best if r != (0.0, 1)])[:6]:
            o, th = out[rule], " / ".join(f"{t[rule]:.3f}" for t in per_pool)
            print(f"  w={rule[0]:.2f} k={rule[1]:2d}   {th:19s}  {o[0]:.3f}  {o[1]:.3f}  {o[2]:.3f}        {o[3]:.3f}  {o[4]:.3f}  {o[5]:.3f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
