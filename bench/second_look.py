"""The second look (infer.py: close calls re-ranked by ORB keypoints and a homography), measured and
calibrated on one evaluation folder (``register/`` + ``queries/<type>/``, as eval.py reads).

    python -m data.samples --eval-set held_out/sl_val_families --types 200 --unknown-types 50 --seed 5150
    python bench/second_look.py --data held_out/sl_val_families --model assets/model.onnx

1. Keypoint evidence for the best ``max(--ks)`` types of every query, once (the second look forced
   on every query), then every setting of the sweep (trigger margin × weight × k × inlier range)
   replayed from it with infer.py's own formula: top-1, ROC AUC, TPR at FPR 1e-3, and at the model's
   threshold the accuracy and the share of unregistered queries rejected; how often it triggers, how
   many first choices it fixes and breaks. The first row is the ranking before the second look:
   the embedding re-scored by the header and palette checks, which infer.py applies first
   (``--no-header-check``, ``--no-palette``: each off on every row).
2. Inlier counts of the true type and of wrong candidates (percentiles), to check the inlier range.
3. Milliseconds per query through ``DocClassifier.classify`` (decode, embed, match, and on a close
   call the second look), with the second look off and on at ``--margin/--weight/--k`` (default:
   infer.py's defaults): wall time (mean, median, p90) and CPU time of all threads (mean; a busy
   machine inflates the wall time, not this); the time to compute the register's keypoints once; and
   a check that the live second look gives the replayed top-1.

Calibrate on validation folders, never on the reporting sets.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.scores import evaluate_scores  # noqa: E402
from eval import load_eval_set  # noqa: E402
from infer import DocClassifier, InferError, SecondLook  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def collect(
    clf: DocClassifier, queries: list, width: int, index: dict[str, int], warn
) -> tuple[np.ndarray, list[dict], list[int]]:
    """Scores of every query against every type as the second look finds them (the embedding's,
    re-scored by the header and palette checks when they are on, as infer.py does first), the second
    look's findings for the best ``width`` types of each (forced on: margin 1), and the queries kept
    (readable). ``index``: each type's column."""
    clf.second_look = SecondLook(margin=1.0, k=width)  # scores lie in [0, 1]: always a close call
    scores, found, kept = [], [], []
    for i, (_, path) in enumerate(tqdm(queries, desc="second look, forced", unit="query")):
        try:
            embedding = clf.embed(path)
        except InferError as e:
            warn(f"{e}; skipped")
            continue
        row = clf.type_scores(embedding)[0][0]
        match = clf.match(embedding, width, images=[path])[0]
        for check in (match.header, match.palette):  # in infer.py's order
            if check and check.get("ran"):  # a close call this check re-scored
                for c in check["candidates"]:
                    row[index[c["label"]]] = c["score"]
        scores.append(row)
        found.append(match.second_look)
        kept.append(i)
    return np.stack(scores), found, kept


def replay(scores: np.ndarray, found: list[dict], index: dict[str, int], look: SecondLook) -> tuple[np.ndarray, int]:
    """The (queries × types) scores the second look ``look`` gives, from forced findings; and how
    many queries it triggers on."""
    out = scores.copy()
    triggered = 0
    for row, f in zip(out, found, strict=True):
        candidates = sorted(f["candidates"], key=lambda c: c["embedding_rank"])[: look.k]
        if len(candidates) < 2 or not look.triggers(candidates[0]["embedding_score"], candidates[1]["embedding_score"]):
            continue
        triggered += 1
        best = max(c["inliers"] for c in candidates)
        for c in candidates:
            row[index[c["label"]]] = look.combine(c["embedding_score"], look.evidence(c["inliers"], best))
    return out, triggered


def figures(scores: np.ndarray, truth: np.ndarray, threshold: float, baseline: np.ndarray | None = None) -> dict:
    ev = evaluate_scores(scores, truth, threshold)
    at = {p.target_fpr: p.tpr for p in ev.points}
    out = {
        "top1": ev.top1,
        "auc": ev.auc,
        "tpr@1e-3": at[1e-3],
        "accuracy@threshold": ev.accuracy_at_threshold,
        "unknown_rejected": ev.rejection_rate,
    }
    if baseline is not None:
        known = truth >= 0
        before = baseline[known].argmax(1) == truth[known]
        after = scores[known].argmax(1) == truth[known]
        out.update(fixed=int((~before & after).sum()), broken=int((before & ~after).sum()))
    return out


def inlier_percentiles(found: list[dict], truth: np.ndarray, names: list[str]) -> dict:
    right, wrong = [], []
    for f, t in zip(found, truth, strict=True):
        for c in f["candidates"]:
            (right if t >= 0 and c["label"] == names[t] else wrong).append(c["inliers"])
    q = [5, 10, 25, 50, 75, 90, 95, 99]
    return {
        "true type": dict(zip(map(str, q), np.percentile(right, q).round(1).tolist(), strict=True)) if right else {},
        "wrong candidates": dict(zip(map(str, q), np.percentile(wrong, q).round(1).tolist(), strict=True)),
    }


def timing(clf: DocClassifier, paths: list[Path], look: SecondLook) -> dict:
    """ms per query through classify(), second look off then on; the live top-1 labels too."""
    out: dict = {}
    for name, setting in (("off", None), ("on", look)):
        clf.second_look = setting
        clf.classify(paths[0])  # warm up
        times, cpu, labels, ran = [], [], [], 0
        for path in paths:
            t0, c0 = time.perf_counter(), time.process_time()
            match = clf.match(clf.embed(path), images=[path])[0]
            times.append(1000 * (time.perf_counter() - t0))
            cpu.append(1000 * (time.process_time() - c0))
            labels.append(match.top[0][0])
            ran += bool(match.second_look and match.second_look["ran"])
        out[name] = {
            "mean_ms": statistics.mean(times),
            "median_ms": statistics.median(times),
            "p90_ms": float(np.percentile(times, 90)),
            "cpu_ms": statistics.mean(cpu),  # all threads' CPU time: what a loaded machine cannot inflate
            "triggered": ran / len(paths),
            "labels": labels,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="evaluation folder: register/ and queries/<type>/")
    parser.add_argument("--model", default="assets/model.onnx")
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's")
    defaults = SecondLook()
    parser.add_argument(
        "--margins", type=floats, default=[0.02, 0.05, 0.1, 0.2, 1.0], help="trigger margins swept (1: always)"
    )
    parser.add_argument("--weights", type=floats, default=[0.5, 0.7, 0.9, 1.0], help="weights swept")
    parser.add_argument("--ks", type=ints, default=[defaults.k], help="candidates re-ranked, swept (2 to 5)")
    parser.add_argument(
        "--inliers",
        default=f"{defaults.min_inliers}-{defaults.full_inliers}",
        help="min-full inlier ranges swept, comma-separated (default: %(default)s)",
    )
    parser.add_argument("--margin", type=float, default=defaults.margin, help="the setting timed")
    parser.add_argument("--weight", type=float, default=defaults.weight, help="the setting timed")
    parser.add_argument("--k", type=int, default=defaults.k, help="the setting timed")
    parser.add_argument("--timed", type=int, default=0, help="queries timed (default: all)")
    parser.add_argument(
        "--no-palette", dest="palette", action="store_false", help="the palette check off (infer.py --no-palette)"
    )
    parser.add_argument(
        "--no-header-check",
        dest="header",
        action="store_false",
        help="the header check off (infer.py --no-header-check)",
    )
    parser.add_argument("--out", default=None, help="JSON (default: runs/eval/second_look-<data>.json)")
    args = parser.parse_args(argv)
    warn = lambda m: print(f"warning: {m}", file=sys.stderr)  # noqa: E731
    data = Path(args.data)
    ranges = [tuple(int(v) for v in r.split("-")) for r in args.inliers.split(",") if r.strip()]
    try:
        _, _, queries = load_eval_set(data, warn)
        clf = DocClassifier(
            args.model,
            data / "register",
            threshold=args.threshold,
            cache=False,
            warn=warn,
            palette=args.palette,
            header=args.header,
        )
        timed_look = SecondLook(margin=args.margin, weight=args.weight, k=args.k)
        sweep = [
            SecondLook(margin=m, weight=w, k=k, min_inliers=lo, full_inliers=hi)
            for m in args.margins
            for w in args.weights
            for k in args.ks
            for lo, hi in ranges
        ]
    except InferError as e:
        print(f"second_look.py: error: {e}", file=sys.stderr)
        return 2
    names = clf.type_scores(np.zeros((1, clf.model.embed_dim), np.float32))[1]
    index = {name: i for i, name in enumerate(names)}
    t0 = time.perf_counter()
    clf.second_look = SecondLook(k=max(args.ks))
    register_ms = 1000 * (time.perf_counter() - t0) / len(clf._row_key)
    scores, found, kept = collect(clf, queries, max(args.ks), index, warn)
    paths = [queries[i][1] for i in kept]
    truth = np.array([index.get(p.parent.name, -1) for p in paths])
    threshold = clf.threshold
    before = " + ".join(
        ["embedding"] + [n for n, on in (("header check", args.header), ("palette check", args.palette)) if on]
    )
    rows = [{"setting": before, **figures(scores, truth, threshold), "triggered": 0.0}]
    for look in sweep:
        replayed, triggered = replay(scores, found, index, look)
        setting = {f.name: getattr(look, f.name) for f in dataclasses.fields(look)}
        rows.append(
            {"setting": setting, **figures(replayed, truth, threshold, scores), "triggered": triggered / len(paths)}
        )

    timed_paths = paths[: args.timed] if args.timed else paths
    clf.second_look = None
    times = timing(clf, timed_paths, timed_look)
    expected = [names[j] for j in replay(scores, found, index, timed_look)[0][: len(timed_paths)].argmax(1)]
    agree = float(np.mean([a == b for a, b in zip(times["on"].pop("labels"), expected, strict=True)]))
    times["off"].pop("labels")

    known = int((truth >= 0).sum())
    print(f"{data}: {len(names)} registered types, {known} queries of them, {len(paths) - known} of unregistered types")
    print(f"threshold {threshold:.4f}; keypoints of the register: {register_ms:.1f} ms per image, once (then cached)")
    head = f"{'margin':>6} {'weight':>6} {'k':>2} {'inliers':>7} {'top-1':>7} {'AUC':>8} {'TPR@1e-3':>9} "
    print(head + f"{'acc@thr':>8} {'unk.rej':>8} {'trig':>6} {'fixed':>6} {'broken':>6}")
    for r in rows:
        s = r["setting"]
        what = (
            f"{s:>32}"
            if isinstance(s, str)
            else f"{s['margin']:6.2f} {s['weight']:6.2f} {s['k']:2d} {s['min_inliers']:>3}-{s['full_inliers']:<3}"
        )
        tail = f" {r['fixed']:6d} {r['broken']:6d}" if "fixed" in r else ""
        print(
            f"{what} {r['top1']:7.4f} {r['auc']:8.5f} {r['tpr@1e-3']:9.4f} {r['accuracy@threshold']:8.4f} "
            f"{r['unknown_rejected']:8.4f} {r['triggered']:6.2f}{tail}"
        )
    percentiles = inlier_percentiles(found, truth, names)
    for who, p in percentiles.items():
        print(f"inliers of the {who} among the best {max(args.ks)}: " + ", ".join(f"p{k} {v:g}" for k, v in p.items()))
    print(
        f"ms per query (classify: decode + embed + match [+ second look]) over {len(timed_paths)} queries, "
        f"second look at margin {timed_look.margin}, weight {timed_look.weight}, k {timed_look.k}:"
    )
    for name, t in times.items():
        print(
            f"  second look {name:3s}: mean {t['mean_ms']:6.2f}  median {t['median_ms']:6.2f}  p90 {t['p90_ms']:6.2f}"
            f"  CPU {t['cpu_ms']:6.2f}  (triggered on {t['triggered']:.0%})"
        )
    print(f"  live second look's first choices equal the replayed ones for {agree:.1%} of queries")
    out = Path(args.out) if args.out else Path("runs") / "eval" / f"second_look-{data.resolve().name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "data": str(data),
        "model": args.model,
        "threshold": threshold,
        "palette": args.palette,
        "header_check": args.header,
        "register_keypoints_ms_per_image": register_ms,
        "sweep": rows,
        "inlier_percentiles": percentiles,
        "timed_setting": dataclasses.asdict(timed_look),
        "ms_per_query": times,
        "live_agrees_with_replay": agree,
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
