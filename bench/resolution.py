"""What a larger input costs: ONNX Runtime batch-1 latency of the embedding graph at several input
sizes (issue 20: the model's batch-1 latency on this CPU stays at most 1 ms).

    python bench/resolution.py --cfg lcnet050_cosface_96 --sizes 96 128 160 [--json out.json]

Each size's graph is the config's model with that input size (the squeeze neck's first layer grows
with it), random weights (speed does not depend on them), exported as export_onnx.py exports and
run as infer.py runs it (graph optimisation "all", all cores): the median and 90th percentile of
``--runs`` batch-1 calls after a warm-up, with parameters and FLOPs. ``data.letterbox`` changes
only the preprocessing, not the graph: its cost is in bench/inference.py's end-to-end figures.
Accuracy is the trained models' (bench/compare.py on the look-alike set).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.inference import latency, session  # noqa: E402
from configs import load_config  # noqa: E402
from export_onnx import count_flops, export  # noqa: E402
from models import EmbeddingModel, build_body  # noqa: E402


def graph_figures(cfg_name: str, size: int, folder: Path, runs: int, threads: int) -> dict:
    shape = f"{{img: {{shape: [1, 3, {size}, {size}], dtype: float32}}}}"
    cfg = load_config(cfg_name, ["--data.image_size", str(size), "--onnx.input_shape", shape])
    torch.manual_seed(0)
    model = EmbeddingModel.of(build_body(cfg.model, size)).eval()
    path = folder / f"{cfg.name}-{size}.onnx"
    export(model, cfg, path)
    sess, _ = session(path, "all", threads)
    x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    name = sess.get_inputs()[0].name
    timing = latency(lambda: sess.run(None, {name: x}), runs)
    return {
        "size": size,
        "params": sum(p.numel() for p in model.parameters()),
        "mflops": count_flops(model, size) / 1e6,
        **timing,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", default="lcnet050_cosface_96")
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160])
    parser.add_argument("--runs", type=int, default=500, help="batch-1 calls timed per size")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores, as infer.py)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [graph_figures(args.cfg, s, Path(tmp), args.runs, args.threads) for s in args.sizes]
    print(f"{'input':>7} {'params':>9} {'MFLOPs':>7} {'batch 1, median':>16} {'p90':>8}")
    for r in rows:
        print(f"{r['size']:>7} {r['params']:>9,} {r['mflops']:>7.1f} {r['median_ms']:>13.3f} ms {r['p90_ms']:>5.3f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
