"""Train the document embedding model (backbone → neck → margin head) with AMP and DDP.

    python train.py --cfg tiny_cpu                                  # one process
    torchrun --nproc_per_node=8 train.py --cfg lcnet050_cosface_96  # DDP, one process per GPU
    python train.py --cfg lcnet050_cosface_96 --train.batch_size 64 --lr 3e-3
    python train.py --resume runs/tiny_cpu-20261124-101500         # continue exactly where it stopped

Any config key can be overridden as ``--section.key VALUE`` (or ``--key VALUE`` when the name is
unique); see configs/schema.py for every key.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
from argparse_dataclass import ArgumentParser
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from configs import Config, ConfigError, available_configs, config_from_dict, load_config, parse_overrides
from data import DataError, ResumableSampler, batches_per_epoch, build_train_dataset, eval_transform
from engine.budget import TimeBudget
from engine.checkpoint import (
    CheckpointError,
    checkpoint_path,
    load_checkpoint,
    load_model_weights,
    rng_state,
    save_atomic,
    seed_everything,
    set_rng_state,
)
from engine.distributed import DistEnv, all_gather_objects, broadcast_object, init_distributed, shutdown_distributed
from engine.ema import WeightEMA
from engine.loop import NonFiniteError, StepLoop, average_buffers, build_optimizer, grad_scaler, memory_format
from engine.metrics import JsonlLog
from engine.schedule import WarmupDecay, restore_lr
from engine.verification import VerificationSet
from engine.weights import check_fits, init_from
from models import EmbeddingModel, build_model

# Steps between fits of the run's end to its time budget (a collective under DDP): 20, or a hundredth
# of the run when that is shorter, so a short run is not cut off between two fits.
BUDGET_FIT_EVERY = 20


@dataclass
class TrainArgs:  # argparse-dataclass reads real annotations: no `from __future__ import annotations`
    cfg: Optional[str] = field(default=None, metadata={"help": "config name in configs/ or a YAML path"})
    resume: Optional[str] = field(
        default=None, metadata={"help": "run folder or checkpoint to continue (its config is used)"}
    )
    run_dir: Optional[str] = field(
        default=None, metadata={"help": "where to write (default: <train.output_dir>/<name>-<time>)"}
    )


def parse_args(argv: list[str]) -> tuple[TrainArgs, Config, dict | None, Path | None]:
    """The arguments, the config, and when resuming the checkpoint and its file."""
    parser = ArgumentParser(
        TrainArgs,
        description="Train the DocClassifier embedding model.",
        epilog=f"configs: {', '.join(available_configs())}. "
        "Override any config key with --section.key VALUE (e.g. --train.batch_size 64 --lr 3e-3).",
    )
    args, rest = parser.parse_known_args(argv)
    overrides = parse_overrides(rest)
    if not args.resume and args.cfg and elastic_restart() > 0:
        resume_after_restart(args, load_config(args.cfg, overrides))
    if args.resume:
        ckpt_path = checkpoint_path(args.resume)
        ckpt = load_checkpoint(ckpt_path)
        ckpt["config"]["train"]["stop_after_steps"] = 0  # per invocation: not inherited
        cfg = config_from_dict(ckpt["config"], overrides)
        return args, cfg, ckpt, ckpt_path
    if not args.cfg:
        raise ConfigError(f"give --cfg NAME_OR_PATH (configs: {', '.join(available_configs())}) or --resume RUN")
    cfg = load_config(args.cfg, overrides)
    if cfg.model.init:  # before a run folder is made: weights that are missing or do not fit
        check_fits(cfg.model.init, cfg)
    return args, cfg, None, None


def elastic_restart() -> int:
    """How many times torchrun (--max-restarts) has restarted this worker group; 0 on the first try."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def elastic_marker(cfg: Config) -> Path | None:
    """Where the first try of this torchrun job notes its run folder, for the tries after a restart."""
    run_id = os.environ.get("TORCHELASTIC_RUN_ID")
    return Path(cfg.train.output_dir) / f".torchrun-{run_id}" if run_id else None


def resume_after_restart(args: TrainArgs, cfg: Config) -> None:
    """torchrun restarted the group after a rank died: continue the first try's run from its last
    checkpoint (or start it again in the same folder when it died before the first one)."""
    marker = elastic_marker(cfg)
    if args.run_dir is None and marker is not None and marker.is_file():
        args.run_dir = marker.read_text().strip()
    if args.run_dir and (Path(args.run_dir) / "last.pt").is_file():
        args.resume = args.run_dir
    if os.environ.get("RANK", "0") == "0":
        what = f"resuming {args.resume}" if args.resume else "no checkpoint yet, starting again"
        print(f"torchrun restart {elastic_restart()}: {what}", flush=True)


def make_run_dir(cfg: Config, args: TrainArgs, ckpt_path: Path | None, env: DistEnv) -> Path:
    if ckpt_path is not None:
        run_dir = ckpt_path.parent
    elif args.run_dir:
        run_dir = Path(args.run_dir)
    else:  # rank 0 picks the time stamp so every rank agrees on the folder
        stamp = broadcast_object(time.strftime("%Y%m%d-%H%M%S"))
        run_dir = Path(cfg.train.output_dir) / f"{cfg.name}-{stamp}"
    if env.is_main:
        # Also the probe that the folder is writable (and the disk not full), before any expensive work.
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(cfg.to_yaml())
        except OSError as e:
            raise ConfigError(f"{run_dir}: cannot write the run folder ({e.strerror or e})") from None
        marker = elastic_marker(cfg)
        if marker is not None and elastic_restart() == 0:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{run_dir}\n")
    return run_dir


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, folder gone); the run stops."""


@dataclass
class TrainResult:
    model: torch.nn.Module  # the plain module (no DDP), on this rank
    step: int
    run_dir: Path
    interrupted: bool = False


def run(argv: list[str]) -> TrainResult:
    """Everything ``main`` does, returning the trained module (tests inspect every rank's)."""
    args, cfg, ckpt, ckpt_path = parse_args(argv)
    # The run's time zero, earlier invocations included (a resumed run carries on its clock).
    started = time.perf_counter() - (ckpt.get("train_seconds", 0.0) if ckpt is not None else 0.0)
    env = init_distributed(cfg.train.device)
    tc = cfg.train
    run_dir = make_run_dir(cfg, args, ckpt_path, env)

    # Data: the same dataset on every rank; the sampler gives each rank its share.
    seed_everything(tc.seed)
    dataset = build_train_dataset(cfg.data, seed=tc.seed)
    sampler = ResumableSampler(dataset, env.world_size, env.rank, seed=tc.seed)
    micro_batches = batches_per_epoch(len(dataset), env.world_size, tc.batch_size)
    steps_per_epoch = micro_batches // tc.grad_accum
    if steps_per_epoch == 0:
        raise ConfigError(
            f"{len(dataset)} samples are too few for train.batch_size={tc.batch_size} × "
            f"{env.world_size} processes × train.grad_accum={tc.grad_accum}"
        )
    step_limit = tc.epochs * steps_per_epoch
    if tc.max_steps:
        step_limit = min(step_limit, tc.max_steps)
    total_steps = step_limit
    budget = None
    if tc.time_budget_min:
        rate = ckpt.get("steps_per_second") if ckpt is not None else None
        budget = TimeBudget(tc.time_budget_min * 60, started, rate)
        if ckpt is not None:  # the end the last measured speed gives, until this invocation measures its own
            total_steps = budget.end_step(ckpt["step"], ckpt["total_steps"], step_limit)

    def end_of_invocation() -> int:
        return min(total_steps, tc.stop_after_steps) if tc.stop_after_steps else total_steps

    end_step = end_of_invocation()

    # Model: the same initial weights on every rank (DDP also broadcasts rank 0's); a PartialFC
    # head holds this rank's rows of the class centres only.
    model = build_model(cfg.model, cfg.data.image_size, dataset.num_classes)
    if ckpt is None and cfg.model.init:  # a resumed run has its own weights
        started_from = init_from(model, cfg.model.init, neck=cfg.model.init_neck)
        if env.is_main:
            print(started_from)
    model = model.to(env.device)
    train_model, head = model.training_parts()
    optimizer = build_optimizer(model, cfg.optim)
    schedule = WarmupDecay(
        total_steps, cfg.optim.warmup_steps, cfg.optim.schedule, cfg.optim.min_lr_ratio, cfg.optim.poly_power
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = grad_scaler(env.device, tc.amp)
    step = 0
    if ckpt is not None:
        if ckpt["num_classes"] != dataset.num_classes:
            raise ConfigError(
                f"the checkpoint's head has {ckpt['num_classes']} classes, the data has {dataset.num_classes}"
            )
        # A checkpoint holds all classes' centres and their optimizer state, however many ranks
        # (and whether a PartialFC head) wrote it: a sharded head takes its rows.
        state = ckpt["model"]
        if head is not None and "head.weight" in state:
            state = {**state, "head.weight": head.shard_rows(state["head.weight"])}
        load_model_weights(model, state, ckpt_path)
        if head is not None:
            head.load_optimizer_state(optimizer, ckpt["optimizer"])
        else:
            optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict({**ckpt["scheduler"], "lr_lambdas": [None] * len(optimizer.param_groups)})
        scaler.load_state_dict(ckpt["scaler"])
        step = ckpt["step"]
        # The lr is a function of the *current* config and the step (resume may extend the run).
        restore_lr(optimizer, scheduler, cfg.optim.lr, schedule, step)
    if ckpt is not None and len(ckpt["rng"]) == env.world_size:
        set_rng_state(ckpt["rng"][env.rank])
    else:
        seed_everything(tc.seed + env.rank + step)
    model = model.to(memory_format=memory_format(tc))
    # The moving average follows the backbone and neck on rank 0, which alone validates and saves
    # (every rank's weights are the same); made after the memory-format change it must share.
    ema = WeightEMA(model.body(), tc.ema_decay) if tc.ema_decay and env.is_main else None
    if ema is not None and ckpt is not None and "ema" in ckpt:
        ema.load_state_dict(ckpt["ema"])
    del ckpt

    # DDP averages the gradients of what it wraps: all of the model, or with a sharded head (whose
    # rows differ per rank) the backbone and neck only.
    if env.distributed:
        device_ids = [env.device.index] if env.device.type == "cuda" else None
        train_model = DistributedDataParallel(train_model, device_ids=device_ids)
    if tc.compile:
        train_model = torch.compile(train_model)

    def save(step: int) -> None:
        average_buffers(model)
        rngs = all_gather_objects(rng_state())  # every rank's stream, so resume is exact
        weights, optimizer_state = model.state_dict(), optimizer.state_dict()
        if head is not None:  # all classes' rows, gathered on rank 0 (collectives: every rank calls)
            weights["head.weight"] = head.full_weight(dst=0)
            optimizer_state = head.full_optimizer_state(optimizer, dst=0)
        if env.is_main:
            state = {
                "model": weights,
                **({"ema": ema.state_dict()} if ema is not None else {}),
                "optimizer": optimizer_state,
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "step": step,
                "epoch": step // steps_per_epoch,
                "total_steps": total_steps,
                "train_seconds": time.perf_counter() - started,
                **({"steps_per_second": budget.steps_per_second(step)} if budget is not None else {}),
                "num_classes": dataset.num_classes,
                "world_size": env.world_size,
                "rng": rngs,
                "config": cfg.to_dict(),
            }
            try:
                save_atomic(state, run_dir / "last.pt")
            except OSError as e:  # the previous last.pt is intact (atomic write); say so and stop
                raise CheckpointWriteError(
                    f"{run_dir / 'last.pt'}: cannot write the step {step} checkpoint ({e.strerror or e}); "
                    "the previous one is intact"
                ) from None

    validations = {}
    if tc.val_every_steps and env.is_main:
        validations["val_"] = VerificationSet(tc.val_types)
        if tc.val_pdf_root:
            validations["val_pdf_"] = VerificationSet.from_pdf_pages(tc.val_pdf_root, tc.val_types)
    eval_images = eval_transform(cfg.data.image_size, cfg.data.mean, cfg.data.std, cfg.data.letterbox)

    # Validated: the trained weights, and their moving average where one is kept.
    validated = {"": model}
    if ema is not None:
        validated["ema_"] = ema.module

    def fit_to_budget(step: int) -> None:
        """Move the run's last step to where the measured speed meets the end of the time budget
        (decided on rank 0, the same on every rank)."""
        nonlocal total_steps, end_step
        budget.observe(step)
        if step % max(1, min(BUDGET_FIT_EVERY, total_steps // 100)):
            return
        fitted = broadcast_object(budget.end_step(step, total_steps, step_limit) if env.is_main else None)
        if fitted == total_steps:
            return
        total_steps = fitted
        schedule.set_total(total_steps)
        end_step = end_of_invocation()
        progress.total = end_step
        progress.refresh()
        if env.is_main:
            log.write({"step": step, "total_steps": total_steps, "budget_left_s": round(budget.left(), 1)})

    def on_step(step: int) -> bool:
        """After each optimizer step: the average, the budget, validation and checkpoints. True
        when the run (or this invocation) has reached its end."""
        if ema is not None:
            ema.update(step)
        if budget is not None:
            fit_to_budget(step)
        paused = time.perf_counter()
        if validations and (step % tc.val_every_steps == 0 or step == end_step):
            record = {}
            for prefix, validation in validations.items():
                for name, weights in validated.items():
                    embedder = EmbeddingModel(weights.backbone, weights.neck).train(weights.training)
                    record.update(validation.evaluate_model(embedder, eval_images, env.device, prefix + name))
            log.write({"step": step, **record})
            progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()))
        if step % tc.ckpt_every_steps == 0 or step % steps_per_epoch == 0 or step == end_step:
            save(step)
        if budget is not None and step < end_step:  # the last step will pause as long again
            budget.pause(time.perf_counter() - paused)
        return step >= end_step

    board = run_dir / "tensorboard" if tc.tensorboard else None
    log = JsonlLog(run_dir / "metrics.jsonl", resume_step=step, tensorboard_dir=board) if env.is_main else None
    if env.is_main:
        n_params = sum(p.numel() for p in model.parameters())
        sharded = ""
        if head is not None:
            n_params += (dataset.num_classes - len(head.weight)) * head.weight.shape[1]
            sharded = f" (PartialFC: {len(head.weight)} of them on this rank, sample_rate {head.sample_rate})"
        print(
            f"{cfg.name}: {n_params / 1e6:.2f}M parameters, {dataset.num_classes} classes{sharded}, "
            f"{len(dataset)} images/epoch, {env.world_size} process(es) on {env.device}, amp={tc.amp}; "
            f"run folder {run_dir}" + (f"; resuming at step {step}" if step else ""),
            flush=True,
        )
    progress = tqdm(total=end_step, initial=step, desc=cfg.name, disable=not env.is_main, dynamic_ncols=True)
    loop = StepLoop(train_model, optimizer, scheduler, scaler, env, tc, cfg.optim.grad_clip, log, progress, head)
    try:
        while step < end_step:
            epoch, done = divmod(step, steps_per_epoch)
            dataset.set_epoch(epoch)
            sampler.set_epoch(epoch)
            sampler.set_start(done * tc.grad_accum * tc.batch_size)
            loader = DataLoader(
                dataset,
                batch_size=tc.batch_size,
                sampler=sampler,
                num_workers=cfg.data.num_workers,
                pin_memory=env.device.type == "cuda",
                drop_last=True,
                # Its own generator: creating a loader mid-epoch on resume must not draw from the
                # global RNG stream that dropout and the like use.
                generator=torch.Generator().manual_seed(tc.seed + epoch),
            )
            # on_step ends the loop at end_step, which a time budget moves as the run goes.
            step = loop.run(iter(loader), steps_per_epoch - done, step, epoch, on_step)
            del loader
        loop.flush(step, step // steps_per_epoch)
    except KeyboardInterrupt:
        progress.close()
        if env.is_main:
            print(f"\ninterrupted; continue with: python train.py --resume {run_dir}", file=sys.stderr)
        return TrainResult(model, step, run_dir, interrupted=True)
    finally:
        progress.close()
        if log is not None:
            log.close()
        # gloo can abort at exit if the group is destroyed while DDP still holds it.
        del loop, train_model
        shutdown_distributed()
    if env.is_main:
        marker = elastic_marker(cfg)
        if marker is not None and step >= total_steps:
            marker.unlink(missing_ok=True)  # the job is done: no restart will look for it
        more = f"; continue with: python train.py --resume {run_dir}" if step < total_steps else ""
        minutes = (time.perf_counter() - started) / 60  # resumed invocations included
        print(
            f"done: step {step} of {total_steps} in {minutes:.1f} min; checkpoint {run_dir / 'last.pt'}{more}",
            flush=True,
        )
    return TrainResult(model, step, run_dir)


def main(argv: list[str] | None = None) -> int:
    result = run(sys.argv[1:] if argv is None else argv)
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConfigError, DataError, CheckpointError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(2)
    except (NonFiniteError, CheckpointWriteError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(3)
