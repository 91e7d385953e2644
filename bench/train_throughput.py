"""Training throughput: where the time goes, in images per second.

    python bench/train_throughput.py [--cfg lcnet050_cosface_96 lcnet050_cosface_128] [--json out.json]

For each config:

- **data alone**: ``dataset[i]`` (render or read, augment, to tensor) in this process with one thread,
  as one DataLoader worker runs it;
- **model step alone**: forward, CosFace loss, backward, clip, AdamW step on random tensors of the
  batch size, through the training loop's own ``StepLoop`` (fp32 and bf16 autocast; 1 and 2 threads);
- **full loop**: ``train.py`` itself for ``--steps`` steps (one process with one model thread and
  ``--workers`` DataLoader workers, and ``torchrun`` with 2 processes of half the batch each), its
  logged images per second after warm-up.

Each figure is the median of several timed windows after a warm-up. The full loop is also given as
a share of the model step alone at the same thread count: the loop's overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from configs import load_config  # noqa: E402
from data import build_train_dataset  # noqa: E402
from engine.distributed import DistEnv  # noqa: E402
from engine.loop import StepLoop, build_optimizer, grad_scaler, memory_format  # noqa: E402
from engine.metrics import read_jsonl  # noqa: E402
from models import build_model  # noqa: E402

SYNTHETIC = "[{kind: synthetic, weight: 1}]"


def config(name: str, args, **train):
    overrides = {
        "data.sources": args.sources,
        "train.batch_size": args.batch_size,
        "train.channels_last": True,
        "train.amp": "off",
        **{f"train.{k}": v for k, v in train.items()},
    }
    return load_config(name, [f"--{k}={v}" for k, v in overrides.items()])


def data_alone(cfg, images: int, repeats: int) -> float:
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    dataset = build_train_dataset(cfg.data, seed=0)
    for i in range(20):  # warm-up: caches, first renders
        dataset[i]
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        for i in range(images):
            dataset[(r + 1) * images + i]
        rates.append(images / (time.perf_counter() - t0))
    return statistics.median(rates)


def model_step_alone(cfg, num_classes: int, threads: int, amp: str, steps: int, repeats: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg.train.amp = amp
    model = build_model(cfg.model, cfg.data.image_size, num_classes).to(memory_format=memory_format(cfg.train))
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    env = DistEnv(0, 1, 0, torch.device("cpu"))
    cfg.train.log_every_steps = 10**9  # no logging inside the timed windows
    loop = StepLoop(
        model, optimizer, scheduler, grad_scaler(env.device, amp), env, cfg.train, cfg.optim.grad_clip, None
    )
    b, s = cfg.train.batch_size, cfg.data.image_size
    batch = (torch.randn(b, 3, s, s), torch.randint(0, num_classes, (b,)))

    def batches():
        while True:
            yield batch

    it = batches()
    loop.run(it, 3, 0, 0, lambda step: None)  # warm-up
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        loop.run(it, steps, 0, 0, lambda step: None)
        rates.append(steps * b / (time.perf_counter() - t0))
    return statistics.median(rates)


def full_loop(name: str, args, procs: int, amp: str, work: Path) -> float:
    run_dir = work / f"{name}-{procs}-{amp}"
    batch = args.batch_size // procs
    overrides = [
        f"--data.sources={args.sources}",
        f"--train.batch_size={batch}",
        f"--train.amp={amp}",
        "--train.channels_last=true",
        f"--train.max_steps={args.steps}",
        "--train.epochs=1000",
        "--train.val_every_steps=0",
        "--train.ckpt_every_steps=1000000",
        "--train.log_every_steps=10",
        f"--data.num_workers={args.workers if procs == 1 else max(1, args.workers // procs)}",
    ]
    launcher = (
        [sys.executable, str(ROOT / "train.py")]
        if procs == 1
        else [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}", str(ROOT / "train.py")]
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [*launcher, "--cfg", name, "--run-dir", str(run_dir), *overrides],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    records = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "img_per_s" in r]
    return statistics.median(r["img_per_s"] for r in records[2:])  # the first 20 steps warm up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", nargs="+", default=["lcnet050_cosface_96", "lcnet050_cosface_128"])
    parser.add_argument("--sources", default=SYNTHETIC, help="data.sources (default: synthetic templates)")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers in total (default: %(default)s)")
    parser.add_argument("--images", type=int, default=100, help="images per data-alone window")
    parser.add_argument("--steps", type=int, default=60, help="steps per model window and full-loop run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", nargs="*", default=[], choices=["data", "model", "loop", "bf16", "ddp"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "torch": torch.__version__,
        "batch_size": args.batch_size,
        "sources": args.sources,
        "results": {},
    }
    amps = ["off"] if "bf16" in args.skip else ["off", "bf16"]
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, global batch {args.batch_size}, data {args.sources}")
    with tempfile.TemporaryDirectory(prefix="docclassifier-bench-") as tmp:
        for name in args.cfg:
            cfg = config(name, args)
            rows: dict[str, float] = {}
            if "data" not in args.skip:
                rows["data alone, 1 worker"] = data_alone(cfg, args.images, args.repeats)
            if "model" not in args.skip:
                classes = build_train_dataset(cfg.data, seed=0).num_classes
                for amp in amps:
                    for threads in (1, 2):
                        rate = model_step_alone(
                            config(name, args), classes, threads, amp, args.steps // 4, args.repeats
                        )
                        rows[f"model step alone, {threads} thread{'s' * (threads > 1)}, {amp_name(amp)}"] = rate
            if "loop" not in args.skip:
                for amp in amps:
                    rows[f"full loop, 1 process, {args.workers} workers, {amp_name(amp)}"] = full_loop(
                        name, args, 1, amp, Path(tmp)
                    )
                if "ddp" not in args.skip:
                    rows[f"full loop, torchrun 2 processes × {args.batch_size // 2}, fp32"] = full_loop(
                        name, args, 2, "off", Path(tmp)
                    )
            report["results"][name] = rows
            print(f"\n{name} (img/s)")
            for label, rate in rows.items():
                share = ""
                if label.startswith("full loop, 1 process"):
                    amp = label.rsplit(", ", 1)[1]
                    ref = rows.get(f"model step alone, 1 thread, {amp}")
                    share = f"   {rate / ref:.0%} of the model step alone (1 thread)" if ref else ""
                print(f"  {label:52s} {rate:8.0f}{share}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


def amp_name(amp: str) -> str:
    return "fp32" if amp == "off" else amp


if __name__ == "__main__":
    sys.exit(main())
