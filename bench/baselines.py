"""Side by side on one evaluation folder: our model against two classic ways to match documents.

    python -m data.samples --eval-set held_out/templates --types 100 --unknown-types 25
    python bench/baselines.py --data held_out/templates [--model assets/model.onnx ...] [--methods ours,phash,orb]

- perceptual hash (imagehash.phash, 256 bits): score = 1 − Hamming distance / 256;
- ORB keypoints + RANSAC homography (OpenCV): score = number of RANSAC inliers;
- ours: eval.py's pipeline (ONNX Runtime embeddings, cosine).

Each method scores every query against every registered type (best example per type); the same
metrics follow (top-1, ROC AUC, TPR at FPR 1e-3 / 1e-4), plus milliseconds per query.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.scores import headline_metrics, per_type_max  # noqa: E402
from eval import load_eval_set, onnx_embedder, score_eval_set  # noqa: E402
from infer import open_image  # noqa: E402


def phash_scores(register, queries, num_types):
    import imagehash

    def bits(path):
        return imagehash.phash(open_image(path), hash_size=16).hash.ravel()

    reg = np.stack([bits(p) for _, p in register])
    t0 = time.perf_counter()
    q = np.stack([bits(p) for _, p in queries])
    pair = 1.0 - (q[:, None, :] != reg[None, :, :]).mean(2)
    seconds = time.perf_counter() - t0
    return per_type_max(pair, np.array([t for t, _ in register]), num_types), seconds


def orb_scores(register, queries, num_types, long_side: int = 512, features: int = 1000):
    import cv2

    orb = cv2.ORB_create(nfeatures=features)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)

    def describe(path):
        image = np.asarray(open_image(path).convert("L"))
        scale = long_side / max(image.shape)
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return orb.detectAndCompute(image, None)

    def inliers(a, b) -> int:
        (kp_a, des_a), (kp_b, des_b) = a, b
        if des_a is None or des_b is None or len(kp_a) < 4 or len(kp_b) < 4:
            return 0
        good = [
            m
            for m, n in (p for p in matcher.knnMatch(des_a, des_b, k=2) if len(p) == 2)
            if m.distance < 0.75 * n.distance
        ]
        if len(good) < 4:
            return 0
        src = np.float32([kp_a[m.queryIdx].pt for m in good])
        dst = np.float32([kp_b[m.trainIdx].pt for m in good])
        _, mask = cv2.findHomography(src, dst, cv2.RANSAC, 5.0)
        return int(mask.sum()) if mask is not None else 0

    reg = [describe(p) for _, p in register]
    t0 = time.perf_counter()
    pair = np.zeros((len(queries), len(register)))
    for i, (_, path) in enumerate(queries):
        d = describe(path)
        pair[i] = [inliers(d, r) for r in reg]
    seconds = time.perf_counter() - t0
    return per_type_max(pair, np.array([t for t, _ in register]), num_types), seconds


def summarise(name, scores, truth, seconds):
    return {"method": name, **headline_metrics(scores, truth), "ms_per_query": 1000 * seconds / len(truth)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", action="append", help="ONNX model(s) for 'ours' (default: assets/model.onnx)")
    parser.add_argument("--methods", default="ours,phash,orb", help="comma-separated: ours, phash, orb")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    methods = {m.strip() for m in args.methods.split(",") if m.strip()}
    if not methods <= {"ours", "phash", "orb"}:
        parser.error(f"--methods: unknown {sorted(methods - {'ours', 'phash', 'orb'})}; choose from ours, phash, orb")
    data = Path(args.data)
    types, register, queries = load_eval_set(data, warn=lambda m: print(f"warning: {m}", file=sys.stderr))
    truth = np.array([t for t, _ in queries])
    rows = []
    for model in (args.model or ["assets/model.onnx"]) if "ours" in methods else []:
        ours = score_eval_set(onnx_embedder(model), data)
        rows.append(summarise(f"ours ({model})", ours.scores, ours.truth, ours.seconds_per_query * len(ours.truth)))
    if "phash" in methods:
        phash, seconds = phash_scores(register, queries, len(types))
        rows.append(summarise("perceptual hash (imagehash.phash 256 bit)", phash, truth, seconds))
    if "orb" in methods:  # slow: a homography per query × registered example
        orb, seconds = orb_scores(register, queries, len(types))
        rows.append(summarise("ORB + RANSAC (OpenCV, 1000 features)", orb, truth, seconds))
    print(f"{len(types)} registered types, {len(queries)} queries ({int((truth < 0).sum())} of unregistered types)")
    print(f"{'method':45s} {'top-1':>7} {'AUC':>8} {'TPR@1e-3':>9} {'TPR@1e-4':>9} {'ms/query':>9}")
    for r in rows:
        print(
            f"{r['method']:45s} {r['top1']:7.4f} {r['auc']:8.5f} {r['tpr@1e-3']:9.4f} {r['tpr@1e-4']:9.4f} {r['ms_per_query']:9.2f}"
        )
    name = "-".join(sorted(methods))
    out = Path(args.out) if args.out else Path("runs") / "eval" / f"baselines-{data.resolve().name}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": str(data), "results": rows}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
