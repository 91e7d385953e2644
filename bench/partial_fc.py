"""The class-sharded head (PartialFC) against the full head: memory per rank and step time.

    python bench/partial_fc.py [--classes 100000 1000000] [--batch 64] [--steps 5] [--json out.json]

Each case times training steps of ``lcnet050_cosface_96`` (forward, margin softmax, backward,
gradient clipping, AdamW step) on random images through the training loop's own ``StepLoop``, in
processes started here, one thread each, talking over gloo as ``torchrun`` ranks do:

- **full head, 1 process**: the global batch (2 × ``--batch``) on one process;
- **full head, DDP, 2 ranks**: every rank holds all class centres and their AdamW moments, and
  DistributedDataParallel all-reduces the head's gradient with the backbone's;
- **PartialFC, 2 ranks**, ``sample_rate`` 1 and 0.1: each rank holds half of the centres, scores
  the global batch against them (all, or the batch's classes plus a tenth of the rest) and sums
  the softmax normaliser across ranks.

Reported per case: the median step time, each rank's peak resident memory (the whole process:
Python, torch, model, head, optimizer state, activations), the head's own bytes per rank (centres,
their gradient and AdamW's two moments), and for PartialFC what a checkpoint costs: gathering every
rank's rows of the centres and moments onto rank 0 (time, and rank 0's peak memory after it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from configs import load_config  # noqa: E402
from engine.distributed import DistEnv, data_parallel  # noqa: E402
from engine.loop import StepLoop, build_optimizer, grad_scaler, memory_format  # noqa: E402
from models import build_model  # noqa: E402

CASES = [  # name, processes, head overrides
    ("full head, 1 process", 1, {}),
    ("full head, DDP, 2 ranks", 2, {}),
    ("PartialFC, 2 ranks, sample_rate 1", 2, {"model.partial_fc": True}),
    ("PartialFC, 2 ranks, sample_rate 0.1", 2, {"model.partial_fc": True, "model.sample_rate": 0.1}),
]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def rank_main(rank: int, world: int, store: str, spec: dict, out: str) -> None:
    """One rank of one case: build, warm up, time ``steps`` steps, write its figures to ``out``."""
    torch.set_num_threads(1)
    if world > 1:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        overrides = {"train.amp": "off", "train.batch_size": spec["batch"], **spec["overrides"]}
        cfg = load_config(spec["cfg"], [f"--{k}={v}" for k, v in overrides.items()])
        torch.manual_seed(0)
        model = build_model(cfg.model, cfg.data.image_size, spec["classes"]).to(memory_format=memory_format(cfg.train))
        optimizer = build_optimizer(model, cfg.optim)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        env = DistEnv(rank, world, 0, torch.device("cpu"))
        sharded = list(model.sharded_parameters().values())
        cfg.train.log_every_steps = 10**9
        loop = StepLoop(
            data_parallel(model, env),
            optimizer,
            scheduler,
            grad_scaler(env.device, "off"),
            env,
            cfg.train,
            5.0,
            None,
            sharded=sharded,
        )
        g = torch.Generator().manual_seed(rank)
        images = torch.randn(spec["batch"], 3, cfg.data.image_size, cfg.data.image_size, generator=g)
        batch = (images, torch.randint(0, spec["classes"], (spec["batch"],), generator=g))
        times = []
        for i in range(spec["warmup"] + spec["steps"]):
            if world > 1:
                dist.barrier()
            start = time.perf_counter()
            loop.run(iter([batch]), 1, i, 0, on_step=lambda s: None)
            if i >= spec["warmup"]:
                times.append(time.perf_counter() - start)
        centres = model.head.weight
        record = {
            "step_s": statistics.median(times),
            "peak_rss_gib": peak_rss_gib(),
            # Centres, their gradient, AdamW's exp_avg and exp_avg_sq: four matrices of fp32.
            "head_gib": 4 * centres.numel() * centres.element_size() / 2**30,
            "centres_here": len(centres),
        }
        if sharded:  # what train.py's checkpoint does: all rows of centres and moments on rank 0
            if world > 1:
                dist.barrier()
            start = time.perf_counter()
            full = model.head.full_weight(dst=0)
            state = model.head.full_optimizer_state(optimizer, dst=0)
            record["gather_s"] = time.perf_counter() - start
            record["peak_rss_after_gather_gib"] = peak_rss_gib()
            del full, state
        Path(out, f"rank{rank}.json").write_text(json.dumps(record))
    finally:
        if world > 1:
            dist.destroy_process_group()


def run_case(name: str, world: int, overrides: dict, args, classes: int) -> dict:
    spec = {
        "cfg": args.cfg,
        "classes": classes,
        "batch": args.batch * 2 // world,  # the same global batch in every case
        "overrides": overrides,
        "warmup": args.warmup,
        "steps": args.steps,
    }
    with tempfile.TemporaryDirectory() as tmp:
        mp.start_processes(
            rank_main, args=(world, os.path.join(tmp, "store"), spec, tmp), nprocs=world, start_method="spawn"
        )
        ranks = [json.loads(Path(tmp, f"rank{r}.json").read_text()) for r in range(world)]
    return {"case": name, "classes": classes, "processes": world, "global_batch": args.batch * 2, "ranks": ranks}


def row(result: dict) -> str:
    ranks = result["ranks"]
    rss = " / ".join(f"{r['peak_rss_gib']:.2f}" for r in ranks)
    gather = ""
    if "gather_s" in ranks[0]:
        gather = f"{ranks[0]['gather_s']:.2f} s, rank 0 {ranks[0]['peak_rss_after_gather_gib']:.2f} GiB"
    return (
        f"| {result['classes']:,} | {result['case']} | {ranks[0]['step_s']:.3f} | {rss} | "
        f"{ranks[0]['head_gib']:.2f} | {gather or '-'} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cfg", default="lcnet050_cosface_96")
    parser.add_argument("--classes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=64, help="images per rank with 2 ranks (global batch: twice this)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per case (the median is reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cases", type=int, nargs="+", default=list(range(len(CASES))), help="indices into CASES")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}")
    print(f"{args.cfg}, global batch {args.batch * 2}, fp32, one thread per process, median of {args.steps} steps\n")
    print(
        "| classes | head | step (s) | peak memory per rank (GiB) | head + grad + AdamW per rank (GiB) | checkpoint gather |"
    )
    print("|---|---|---|---|---|---|")
    results = []
    for classes in args.classes:
        for i in args.cases:
            name, world, overrides = CASES[i]
            results.append(run_case(name, world, overrides, args, classes))
            print(row(results[-1]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {**vars(args), "json": str(args.json)}, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
