"""Inference speed of an exported model, and what ONNX Runtime's optimisations buy.

    python bench/inference.py [--model assets/model.onnx] [--data held_out/templates] [--json out.json]

1. ONNX Runtime, batch-1 latency (median and 90th percentile of ``--runs`` calls after a warm-up) and
   batch-64 throughput, at each graph optimisation level; the optimised graph saved to a file and
   loaded with optimisations off (session start-up time too).
2. PyTorch eager on the same architecture (built from the config in the model's metadata; weights
   from ``--ckpt`` if given, else random: speed does not depend on them) as the reference ratio.
3. int8 quantisation: dynamic (weights int8, activations quantised on the fly) and static (QDQ,
   activations calibrated on images of ``--data``); speed, file size, and accuracy on ``--data``
   against the float model (top-1, ROC AUC, TPR at FPR 1e-3).
4. infer.py end to end: ``DocClassifier.classify`` per image (decode + preprocess + embed + match,
   each timed) on generated document photos of ``--photo-size``, and the command line on a folder of
   ``--images`` of them; the command line's cold start for one image.
5. The second look (infer.py ``--second-look``): ``classify`` per image with it off, on (infer.py's
   settings: it runs on close calls only) and forced on every image (margin 1: its full cost).

Every session runs with ``--threads`` intra-op threads (default: all cores, as infer.py does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infer import DocClassifier, OnnxModel, SecondLook, decode_size, open_image  # noqa: E402

LEVELS = {
    "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session(path: Path, level: str = "all", threads: int = 0, save_to: Path | None = None):
    options = ort.SessionOptions()
    options.graph_optimization_level = LEVELS[level]
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if save_to is not None:
        options.optimized_model_filepath = str(save_to)
    t0 = time.perf_counter()
    sess = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return sess, time.perf_counter() - t0


def latency(fn, runs: int, warmup: int = 10) -> dict:
    """Milliseconds per call: median and 90th percentile."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))]}


def throughput(fn, batch: int, repeats: int) -> float:
    """Images per second of ``fn`` on one batch: the median of ``repeats`` timed calls after one."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def ort_figures(path: Path, size: int, args, level: str = "all") -> dict:
    sess, start = session(path, level, args.threads)
    name = sess.get_inputs()[0].name
    rng = np.random.default_rng(0)
    one = rng.standard_normal((1, 3, size, size), dtype=np.float32)
    many = rng.standard_normal((64, 3, size, size), dtype=np.float32)
    return {
        "session_s": start,
        **latency(lambda: sess.run(None, {name: one}), args.runs),
        "batch64_img_s": throughput(lambda: sess.run(None, {name: many}), 64, args.repeats),
    }


def torch_figures(meta: dict, args) -> dict:
    import torch
    import yaml

    from configs import config_from_dict
    from engine.checkpoint import checkpoint_path, load_checkpoint
    from engine.weights import embedding_model
    from models import EmbeddingModel, build_body

    cfg = config_from_dict(yaml.safe_load(meta["config_yaml"]))
    if args.ckpt:
        path = checkpoint_path(args.ckpt)
        model = embedding_model(load_checkpoint(path), path, cfg)
    else:  # random weights of the same architecture: the head is not run
        model = EmbeddingModel.of(build_body(cfg.model, cfg.data.image_size)).eval()
    torch.set_num_threads(args.threads or os.cpu_count())
    size = cfg.data.image_size
    one, many = torch.randn(1, 3, size, size), torch.randn(64, 3, size, size)
    with torch.inference_mode():
        return {
            **latency(lambda: model(one), args.runs),
            "batch64_img_s": throughput(lambda: model(many), 64, args.repeats),
            "weights": "checkpoint" if args.ckpt else "random (same architecture)",
        }


# --------------------------------------------------------------------------------------------
# int8


def calibration_images(data: Path | None, preprocess, count: int) -> list[np.ndarray]:
    files = sorted((data / "register").rglob("*.*"))[:count] if data else []
    if files:
        return [preprocess(open_image(f, decode_size(preprocess.size))) for f in files]
    return [preprocess(page) for page in synthetic_photos(count, (600, 800))]


def quantise(model: Path, out_dir: Path, calibration: list[np.ndarray]) -> dict[str, Path]:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out_dir / "prepared.onnx"
    quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
    dynamic, static = out_dir / "int8-dynamic.onnx", out_dir / "int8-static.onnx"
    quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QInt8)
    name = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: x[None]} for x in calibration])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(
        str(prepared),
        str(static),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    for path in (dynamic, static):  # the quantiser drops custom metadata; infer.py needs it
        copy_metadata(model, path)
    return {"int8 dynamic": dynamic, "int8 static (QDQ, per channel)": static}


def copy_metadata(source: Path, target: Path) -> None:
    import onnx

    src, dst = onnx.load(str(source)), onnx.load(str(target))
    present = {p.key for p in dst.metadata_props}
    for prop in src.metadata_props:
        if prop.key not in present:
            dst.metadata_props.add(key=prop.key, value=prop.value)
    onnx.save(dst, str(target))


def accuracy(model: Path, data: Path) -> dict:
    from eval import onnx_embedder, run_eval

    result, _ = run_eval(onnx_embedder(str(model)), data, threshold=None, warn=lambda m: None)
    at = {p["target_fpr"]: p["tpr"] for p in result["points"]}
    return {"top1": result["top1"], "auc": result["auc"], "tpr@1e-3": at[1e-3]}


# --------------------------------------------------------------------------------------------
# infer.py end to end


def synthetic_photos(count: int, size: tuple[int, int], seed: int = 0):
    """Document-like photos: a light page with text lines and boxes on a darker background, blurred."""
    rng = np.random.default_rng(seed)
    w, h = size
    for _ in range(count):
        bg = tuple(int(v) for v in rng.integers(40, 120, 3))
        im = Image.new("RGB", (w, h), bg)
        draw = ImageDraw.Draw(im)
        m = int(0.05 * w)
        paper = tuple(int(v) for v in rng.integers(200, 256, 3))
        draw.rectangle([m, m, w - m, h - m], fill=paper)
        y = 2 * m
        while y < h - 2 * m:
            x0 = m + int(rng.integers(10, 60))
            draw.rectangle([x0, y, x0 + int(rng.integers(w // 5, w - 3 * m)), y + 8], fill=(30, 30, 30))
            y += int(rng.integers(18, 40))
        for _ in range(int(rng.integers(1, 4))):
            x, y = int(rng.integers(m, w // 2)), int(rng.integers(m, h // 2))
            colour = tuple(int(v) for v in rng.integers(0, 200, 3))
            draw.rectangle([x, y, x + w // 4, y + h // 8], outline=colour, width=4)
        yield im.filter(ImageFilter.GaussianBlur(1.0))


def write_photos(folder: Path, count: int, size: tuple[int, int]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, im in enumerate(synthetic_photos(count, size, seed=1)):
        path = folder / f"photo_{i:04d}.jpg"
        im.save(path, quality=90)
        paths.append(path)
    return paths


def end_to_end(model: Path, register: Path, photos: list[Path], args) -> dict:
    """Per-image stage times (medians), decoding the full JPEG (as before) and at infer.py's reduced
    scale; then ``classify_batch`` over all photos."""
    clf = DocClassifier(model, register, threads=args.threads or None, warn=lambda m: None)
    n = min(len(photos), args.per_image)
    out: dict = {"register_types": len(clf.labels)}
    for name, min_size in (("full decode", None), ("reduced decode", clf.model.decode_size)):
        stages = {"decode": [], "preprocess": [], "embed": [], "match": [], "total": []}
        for path in photos[: n + 5]:
            t0 = time.perf_counter()
            image = open_image(path, min_size)
            t1 = time.perf_counter()
            x = clf.model.preprocess(image)
            t2 = time.perf_counter()
            e = clf.model(x[None])
            t3 = time.perf_counter()
            clf.match(e)
            t4 = time.perf_counter()
            for key, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
                stages[key].append(1000 * seconds)
        out[name] = {f"{k}_ms": statistics.median(v[5:]) for k, v in stages.items()}  # 5 warm up
        out[name]["decoded_at"] = "×".join(map(str, image.size))
    for threads in (1, clf.read_threads):  # files read one at a time (as before), then on threads
        clf.read_threads = threads
        t0 = time.perf_counter()
        clf.classify_batch(photos)
        out[f"classify_batch_img_s_{threads}_read_threads"] = len(photos) / (time.perf_counter() - t0)
    return out


def second_look_times(model: Path, register: Path, photos: list[Path], args) -> dict:
    """ms per image through ``classify`` (decode + embed + match [+ checks]): mean and median with
    no check on close calls, with infer.py's defaults (header and palette checks), with the second
    look on too, and with it forced on every image; and how often each check ran."""
    clf = DocClassifier(model, register, threads=args.threads or None, warn=lambda m: None)
    header, palette = clf.header, clf.palette
    out: dict = {}
    settings = (
        ("bare", None, False),
        ("off", None, True),
        ("on", SecondLook(), True),
        ("forced", SecondLook(margin=1.0), True),
    )
    for name, look, checks in settings:
        clf.second_look = look
        clf.header, clf.palette = (header, palette) if checks else (None, None)
        times, ran = [], {"second_look": 0, "header": 0, "palette": 0}
        for path in photos[: args.per_image + 5]:
            t0 = time.perf_counter()
            (m,) = clf.match_images([path])  # as classify: decoded once, the checks read that picture
            times.append(1000 * (time.perf_counter() - t0))
            for check in ran:
                found = getattr(m, check)
                ran[check] += bool(found and found["ran"])
        times = times[5:]  # 5 warm up
        out[name] = {
            "mean_ms": statistics.mean(times),
            "median_ms": statistics.median(times),
            "triggered": ran["second_look"] / (len(times) + 5),
            "header_ran": ran["header"] / (len(times) + 5),
            "palette_ran": ran["palette"] / (len(times) + 5),
        }
    return out


def command_line(model: Path, register: Path, folder: Path, one: Path, args) -> dict:
    cmd = [sys.executable, str(ROOT / "infer.py"), "--model", str(model), "--register", str(register)]

    def timed(extra: list[str]) -> float:
        return subprocess_seconds(cmd + extra)

    timed([str(one)])  # writes the register cache, warms the file cache
    cold = statistics.median(timed([str(one)]) for _ in range(args.repeats))
    imports = statistics.median(
        subprocess_seconds([sys.executable, "-c", "import numpy, onnxruntime, PIL.Image"]) for _ in range(args.repeats)
    )
    folder_s = timed([str(folder), "--json"])
    count = len(list(folder.glob("*.jpg")))
    return {"one_image_s": cold, "imports_s": imports, "folder_s": folder_s, "folder_images": count}


def subprocess_seconds(cmd: list[str]) -> float:
    """Wall time of a command, its output discarded."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "assets" / "model.onnx"))
    parser.add_argument("--ckpt", default=None, help="checkpoint for the PyTorch reference (default: random weights)")
    parser.add_argument("--register", default=str(ROOT / "register"))
    parser.add_argument("--data", default=None, help="evaluation folder for int8 accuracy (register/ + queries/)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: all cores)")
    parser.add_argument("--runs", type=int, default=200, help="batch-1 calls timed")
    parser.add_argument("--repeats", type=int, default=5, help="batch-64 calls timed; command-line runs")
    parser.add_argument("--images", type=int, default=1000, help="photos in the folder the command line classifies")
    parser.add_argument("--per-image", type=int, default=100, help="photos timed one at a time")
    parser.add_argument("--photo-size", type=int, nargs=2, default=(1200, 1600), metavar=("W", "H"))
    parser.add_argument("--skip", nargs="*", default=[], choices=["torch", "int8", "end-to-end", "second-look"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    model = Path(args.model)
    data = Path(args.data) if args.data else None
    info = OnnxModel(model)
    size = info.preprocess.size
    report: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "onnxruntime": ort.__version__,
        "model": str(model),
        "input": f"3×{size}×{size}",
        "threads": args.threads or os.cpu_count(),
    }
    work = Path(tempfile.mkdtemp(prefix="docclassifier-bench-"))
    try:
        print(f"ONNX Runtime {ort.__version__}, {report['threads']} threads, {model} ({report['input']})")
        levels = {level: ort_figures(model, size, args, level) for level in LEVELS}
        saved = work / "optimised.onnx"
        session(model, "all", args.threads, save_to=saved)
        levels["saved optimised, loaded with 'disabled'"] = ort_figures(saved, size, args, "disabled")
        report["onnxruntime_levels"] = levels
        print(f"\n{'ONNX Runtime':42s} {'start s':>8} {'b1 median ms':>13} {'b1 p90 ms':>10} {'b64 img/s':>10}")
        for level, r in levels.items():
            print(
                f"{level:42s} {r['session_s']:8.3f} {r['median_ms']:13.3f} {r['p90_ms']:10.3f} {r['batch64_img_s']:10.0f}"
            )
        best = levels["all"]
        if "torch" not in args.skip:
            ref = torch_figures(info.meta, args)
            report["pytorch_eager"] = ref
            print(
                f"{'PyTorch eager (' + ref['weights'].split(' ')[0] + ' weights)':42s} {'':8} "
                f"{ref['median_ms']:13.3f} {ref['p90_ms']:10.3f} {ref['batch64_img_s']:10.0f}"
            )
            print(
                f"ONNX Runtime vs PyTorch eager: {ref['median_ms'] / best['median_ms']:.2f}× faster at batch 1, "
                f"{best['batch64_img_s'] / ref['batch64_img_s']:.2f}× at batch 64"
            )
        if "int8" not in args.skip:
            variants = {"float32 (as exported)": model}
            variants.update(quantise(model, work, calibration_images(data, info.preprocess, 100)))
            rows = {}
            for name, path in variants.items():
                rows[name] = {"mb": path.stat().st_size / 1e6, **ort_figures(path, size, args)}
                if data is not None:
                    rows[name].update(accuracy(path, data))
            report["int8"] = rows
            acc = f" {'top-1':>7} {'AUC':>8} {'TPR@1e-3':>9}" if data else ""
            print(f"\n{'model':42s} {'MB':>5} {'b1 median ms':>13} {'b64 img/s':>10}{acc}")
            for name, r in rows.items():
                acc = f" {r['top1']:7.4f} {r['auc']:8.5f} {r['tpr@1e-3']:9.4f}" if data else ""
                print(f"{name:42s} {r['mb']:5.2f} {r['median_ms']:13.3f} {r['batch64_img_s']:10.0f}{acc}")
        if "end-to-end" not in args.skip:
            folder = work / "photos"
            photos = write_photos(folder, args.images, tuple(args.photo_size))
            register = work / "register"
            shutil.copytree(args.register, register)
            e2e = end_to_end(model, register, photos, args)
            cli = command_line(model, register, folder, photos[0], args)
            report["end_to_end"] = {"photo": "×".join(map(str, args.photo_size)) + " JPEG q90", **e2e, **cli}
            w, h = args.photo_size
            print(f"\ninfer.py on {w}×{h} JPEG photos, register of {e2e['register_types']} types, medians in ms:")
            print(f"  {'one image at a time':34s} {'decode':>7} {'preproc':>8} {'embed':>7} {'match':>7} {'total':>7}")
            for name in ("full decode", "reduced decode"):
                r = e2e[name]
                print(
                    f"  {name + ' (at ' + r['decoded_at'] + ')':34s} {r['decode_ms']:7.2f} {r['preprocess_ms']:8.2f} "
                    f"{r['embed_ms']:7.2f} {r['match_ms']:7.2f} {r['total_ms']:7.2f}"
                )
            for key, rate in e2e.items():
                if key.startswith("classify_batch_img_s_"):
                    threads = key.split("_")[-3]
                    print(
                        f"  classify_batch over {len(photos)}, files read on {threads} thread(s): {rate:.0f} images/s"
                    )
            print(
                f"  command line: {cli['folder_images']} images in {cli['folder_s']:.1f} s "
                f"({cli['folder_images'] / cli['folder_s']:.0f} images/s, start-up included); one image "
                f"{cli['one_image_s']:.2f} s cold start, of which Python + imports {cli['imports_s']:.2f} s"
            )
            if "second-look" not in args.skip:
                look = second_look_times(model, register, photos, args)
                report["end_to_end"]["second_look"] = look
                print(
                    f"  classify per image (ms):                   {'mean':>7} {'median':>7} "
                    f"{'header':>7} {'palette':>7} {'2nd look':>8}   (share of images each check ran on)"
                )
                what = {
                    "bare": "no checks on close calls",
                    "off": "header + palette checks (infer.py default)",
                    "on": f"and the second look (margin {SecondLook().margin})",
                    "forced": "and the second look on every image",
                }
                for name, r in look.items():
                    print(
                        f"    {what[name]:42s} {r['mean_ms']:7.2f} {r['median_ms']:7.2f} "
                        f"{r['header_ran']:7.0%} {r['palette_ran']:7.0%} {r['triggered']:8.0%}"
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
