"""Register scale: matching one query against 10 … 1M registered embeddings.

    python bench/register_scale.py [--sizes 10 1000 100000 1000000] [--baseline REV] [--json out.json]

For each bank size and bank dtype (float32, float16) it builds a ``DocClassifier`` bank from random
unit embeddings (one type each, as a register of one example per type), then measures:

- build: ``add_embeddings`` plus the grouping the first query triggers (embedding the register's
  images is not included: that is the model's per-image time, see bench/inference.py);
- one query: median ``match`` time of a single embedding (top-1, and top-5), with the bank warm in
  the caches (a register queried again and again: a bank smaller than the last-level cache is then
  read from it, faster than from memory), and cold (the caches flushed before each query);
- batch: ``match`` of 32 queries at once, per query;
- memory: the bank's bytes and the peak of what numpy allocates for one query (tracemalloc);
- the bandwidth bound: bank bytes ÷ this machine's measured memory read bandwidth, the least
  time any implementation needs to read the bank once from memory, and how far the query times
  are from it.

``--baseline REV`` also measures ``infer.py`` as it was at git revision REV (loaded from ``git show``)
for the before / after: its register grew one embedding at a time (one copy of the bank each), so its
build is measured only up to 10k.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import infer  # noqa: E402

MODEL = ROOT / "assets" / "model.onnx"


def read_bandwidth(gib: float = 1.0, repeats: int = 5) -> dict[str, float]:
    """GB/s of reading a float32 array several times the size of the last-level cache, with numpy's
    max (SIMD compares, lighter than sum's pairwise adds) on one thread and split across two threads
    (numpy releases the GIL); the best of ``repeats``."""
    a = np.ones(int(gib * 2**30) // 4, np.float32)
    out = {}
    for threads in (1, 2):
        parts = np.array_split(a, threads)
        best = float("inf")
        for _ in range(repeats):
            workers = [threading.Thread(target=np.max, args=(p,)) for p in parts]
            t = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            best = min(best, time.perf_counter() - t)
        out[f"{threads}_thread"] = a.nbytes / best / 1e9
    return out


def cold_median_time(fn, flush: np.ndarray, runs: int = 7) -> float:
    """Like ``median_time``, but each call starts with the bank out of the caches: reading ``flush``
    (larger than the last-level cache) first evicts it."""
    times = []
    for _ in range(runs):
        np.max(flush)
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def median_time(fn, min_runs: int = 5, min_seconds: float = 0.5) -> float:
    fn()  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def peak_alloc(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def query_figures(clf, build: float | None, queries: np.ndarray, flush: np.ndarray) -> dict:
    """What a built register costs per query (warm and cold), in memory and in bytes."""
    one = lambda: clf.match(queries[:1])  # noqa: E731
    return {
        "build_s": build,
        "query_ms": 1e3 * median_time(one),
        "query_cold_ms": 1e3 * cold_median_time(one, flush),
        "query_top5_ms": 1e3 * median_time(lambda: clf.match(queries[:1], k=5)),
        "batch32_ms_per_query": 1e3 * median_time(lambda: clf.match(queries)) / len(queries),
        "bank_bytes": int(clf._bank.nbytes),
        "query_peak_alloc_bytes": peak_alloc(one),
    }


def bench_ours(module, n: int, dtype: str, bank: np.ndarray, queries: np.ndarray, flush: np.ndarray) -> dict:
    labels = [f"type{i}" for i in range(n)]
    clf = module.DocClassifier(MODEL, register=None, bank_dtype=dtype)
    t = time.perf_counter()
    clf.add_embeddings(labels, bank)
    clf.match(queries[:1])  # the first query groups the bank
    build = time.perf_counter() - t
    return query_figures(clf, build, queries, flush)


def bench_baseline(module, n: int, bank: np.ndarray, queries: np.ndarray, flush: np.ndarray) -> dict:
    """The old DocClassifier: float32 only, register grown one embedding at a time."""
    clf = module.DocClassifier(MODEL, register=None)
    build = None
    if n <= 10_000:
        t = time.perf_counter()
        for i in range(n):
            clf._add(f"type{i}", bank[i : i + 1])
        clf.match(queries[:1])
        build = time.perf_counter() - t
    else:  # set the fields it would have ended with
        clf._labels, clf._bank, clf._owner = [f"type{i}" for i in range(n)], bank.copy(), np.arange(n)
    return query_figures(clf, build, queries, flush)


def load_revision(rev: str, tmp: Path):
    source = subprocess.run(["git", "show", f"{rev}:infer.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    path = tmp / f"infer_{rev}.py"
    path.write_text(source.stdout)
    spec = importlib.util.spec_from_file_location(f"infer_{rev}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 100_000, 1_000_000])
    parser.add_argument("--baseline", help="git revision of infer.py to compare against (before/after)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)

    bw = read_bandwidth()
    best_bw = max(bw.values())
    print(
        f"memory read bandwidth: {bw['1_thread']:.1f} GB/s (1 thread), {bw['2_thread']:.1f} GB/s (2 threads)",
        flush=True,
    )
    flush = np.ones(2**28, np.float32)  # 1 GiB: evicts the bank from the last-level cache
    dim = infer.OnnxModel(MODEL).embed_dim
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        baseline = load_revision(args.baseline, Path(tmp)) if args.baseline else None
        for n in args.sizes:
            bank = unit_rows(rng, n, dim)
            queries = unit_rows(rng, 32, dim)
            variants = [("float32", infer, "float32"), ("float16", infer, "float16")]
            if baseline is not None:
                variants.insert(0, (f"float32 @ {args.baseline}", baseline, None))
            for name, module, dtype in variants:
                if dtype is None:
                    r = bench_baseline(module, n, bank, queries, flush)
                else:
                    r = bench_ours(module, n, dtype, bank, queries, flush)
                r.update(n=n, bank=name, bound_ms=1e3 * r["bank_bytes"] / (best_bw * 1e9))
                r["x_bound"] = r["query_ms"] / r["bound_ms"]
                r["cold_x_bound"] = r["query_cold_ms"] / r["bound_ms"]
                rows.append(r)
                build = "n/a" if r["build_s"] is None else f"{1e3 * r['build_s']:.1f} ms"
                print(
                    f"{n:>9,} {name:<18} build {build:>10}  query {r['query_ms']:8.3f} ms  top-5 "
                    f"{r['query_top5_ms']:8.3f} ms  cold {r['query_cold_ms']:8.3f} ms  batch-32 {r['batch32_ms_per_query']:8.3f} ms/q  bank "
                    f"{fmt_bytes(r['bank_bytes']):>10}  query peak {fmt_bytes(r['query_peak_alloc_bytes']):>10}  "
                    f"bound {r['bound_ms']:.3f} ms ({r['x_bound']:.1f}×, cold {r['cold_x_bound']:.1f}×)",
                    flush=True,
                )
    print()
    print(
        "| registered | bank | build | 1 query | 1 query, top-5 | 1 query, bank not cached | batch of 32, per query "
        "| bank memory | bound | × bound (cached / not) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        build = "—" if r["build_s"] is None else f"{1e3 * r['build_s']:.1f} ms"
        print(
            f"| {r['n']:,} | {r['bank']} | {build} | {r['query_ms']:.3f} ms | {r['query_top5_ms']:.3f} ms | "
            f"{r['query_cold_ms']:.3f} ms | "
            f"{r['batch32_ms_per_query']:.3f} ms | {fmt_bytes(r['bank_bytes'])} | {r['bound_ms']:.3f} ms | "
            f"{r['x_bound']:.1f} / {r['cold_x_bound']:.1f} |"
        )
    if args.json:
        doc = {"machine": platform.processor() or platform.machine(), "bandwidth_gb_s": bw, "rows": rows}
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
