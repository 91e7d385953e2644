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
from torch.utils.data import DataLoader
from tqdm import tqdm

from configs import Config, ConfigError, available_configs, config_from_dict, load_config, parse_overrides
from data import DataError, ResumableSampler, batches_per_epoch, build_train_dataset, class_families, eval_transform
from engine.budget import RunLength, TimeBudget
from engine.checkpoint import CheckpointError, checkpoint_path, load_checkpoint, seed_everything, set_rng_state
from engine.distributed import DistEnv, broadcast_object, data_parallel, init_distributed, shutdown_distributed
from engine.ema import WeightEMA
from engine.loop import NonFiniteError, StepLoop, build_optimizer, grad_scaler, memory_format
from engine.metrics import JsonlLog
from engine.schedule import WarmupDecay, restore_lr
from engine.state import CheckpointWriteError, TrainingParts, restore_training_state, save_training_state
from engine.verification import VerificationSet
from engine.weights import check_fits, init_from
from models import EmbeddingModel, build_model


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


@dataclass
class TrainResult:
    model: torch.nn.Module  # the plain module (no DDP), on this rank
    step: int
    run_dir: Path
    interrupted: bool = False


def steps_per_epoch(num_samples: int, env: DistEnv, tc) -> int:
    """Optimizer steps in an epoch of ``num_samples`` over every rank; too few samples is a config error."""
    steps = batches_per_epoch(num_samples, env.world_size, tc.batch_size) // tc.grad_accum
    if steps == 0:
        raise ConfigError(
            f"{num_samples} samples are too few for train.batch_size={tc.batch_size} × "
            f"{env.world_size} processes × train.grad_accum={tc.grad_accum}"
        )
    return steps


def run_length(tc, epoch_steps: int, started: float, ckpt: dict | None) -> RunLength:
    """The configured epochs (or ``max_steps``), fitted to the time budget when there is one."""
    limit = tc.epochs * epoch_steps
    if tc.max_steps:
        limit = min(limit, tc.max_steps)
    budget = None
    if tc.time_budget_min:
        rate = ckpt.get("steps_per_second") if ckpt is not None else None
        budget = TimeBudget(tc.time_budget_min * 60, started, rate)
    return RunLength(limit, tc.stop_after_steps, budget, ckpt)


def build_training(
    cfg: Config,
    env: DistEnv,
    num_classes: int,
    total_steps: int,
    ckpt: dict | None,
    ckpt_path: Path | None,
    families=None,
) -> tuple[TrainingParts, WarmupDecay, int]:
    """The model (the same initial weights on every rank; DDP also broadcasts rank 0's; a PartialFC
    head holds this rank's rows of the class centres only), optimizer, schedule and scaler, restored
    from ``ckpt`` when resuming; the random streams set; and the step to start at. ``families``:
    each class's family id, for ``model.sibling_margin``."""
    tc = cfg.train
    model = build_model(cfg.model, cfg.data.image_size, num_classes, families)
    if ckpt is None and cfg.model.init:  # a resumed run has its own weights
        started_from = init_from(model, cfg.model.init, neck=cfg.model.init_neck)
        if env.is_main:
            print(started_from)
    model = model.to(env.device)
    optimizer = build_optimizer(model, cfg.optim)
    o = cfg.optim
    schedule = WarmupDecay(total_steps, o.warmup_steps, o.schedule, o.min_lr_ratio, o.poly_power)
    parts = TrainingParts(
        model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule), grad_scaler(env.device, tc.amp)
    )
    step = 0
    if ckpt is not None:
        step = restore_training_state(ckpt, ckpt_path, parts, num_classes)
        # The lr is a function of the *current* config and the step (resume may extend the run).
        restore_lr(optimizer, parts.scheduler, o.lr, schedule, step)
    if ckpt is not None and len(ckpt["rng"]) == env.world_size:
        set_rng_state(ckpt["rng"][env.rank])
    else:
        seed_everything(tc.seed + env.rank + step)
    model.to(memory_format=memory_format(tc))
    # The moving average follows the backbone and neck on rank 0, which alone validates and saves
    # (every rank's weights are the same); made after the memory-format change it must share.
    if tc.ema_decay and env.is_main:
        parts.ema = WeightEMA(model.body, tc.ema_decay)
        if ckpt is not None and "ema" in ckpt:
            parts.ema.load_state_dict(ckpt["ema"])
    return parts, schedule, step


def distributed_module(parts: TrainingParts, env: DistEnv, tc) -> torch.nn.Module:
    """What the step loop runs: the model, in DDP when distributed, which averages the gradients of
    every parameter but a sharded head's (whose rows differ per rank: ``sharded_parameters``)."""
    train_model = data_parallel(parts.model, env)
    return torch.compile(train_model) if tc.compile else train_model


class AfterStep:
    """What happens after each optimizer step, in order: the weight average, the time budget,
    validation (rank 0) and checkpoints. ``StepLoop.run`` calls it with the step just taken; it
    answers whether this invocation has reached its end, which a time budget moves as the run goes."""

    def __init__(self, cfg: Config, env: DistEnv, run_dir: Path, parts: TrainingParts, length: RunLength,
                 schedule: WarmupDecay, epoch_steps: int, num_classes: int, started: float):  # fmt: skip
        self.cfg, self.tc, self.env, self.run_dir = cfg, cfg.train, env, run_dir
        self.parts, self.length, self.schedule = parts, length, schedule
        self.epoch_steps, self.num_classes, self.started = epoch_steps, num_classes, started
        self.validations = {}
        if self.tc.val_every_steps and env.is_main:
            self.validations["val_"] = VerificationSet(self.tc.val_types)
            if self.tc.val_pdf_root:
                self.validations["val_pdf_"] = VerificationSet.from_pdf_pages(self.tc.val_pdf_root, self.tc.val_types)
        self.eval_images = eval_transform(cfg.data.image_size, cfg.data.mean, cfg.data.std, cfg.data.letterbox)
        # Validated: the trained weights, and their moving average where one is kept.
        self.validated = {"": parts.model.body, **({"ema_": parts.ema.module} if parts.ema is not None else {})}
        self.log: JsonlLog | None = None
        self.progress: tqdm | None = None

    def __call__(self, step: int) -> bool:
        if self.parts.ema is not None:
            self.parts.ema.update(step)
        self.fit_to_budget(step)
        paused = time.perf_counter()
        if self.validations and (step % self.tc.val_every_steps == 0 or step == self.length.end):
            self.validate(step)
        if step % self.tc.ckpt_every_steps == 0 or step % self.epoch_steps == 0 or step == self.length.end:
            self.save(step)
        budget = self.length.budget
        if budget is not None and step < self.length.end:  # the last step will pause as long again
            budget.pause(time.perf_counter() - paused)
        return step >= self.length.end

    def fit_to_budget(self, step: int) -> None:
        """Move the run's last step to where the measured speed meets the end of the time budget
        (decided on rank 0, the same on every rank); the schedule and the progress bar follow."""
        if not self.length.fit(step, self.agreed_end):
            return
        self.schedule.set_total(self.length.total)
        self.progress.total = self.length.end
        self.progress.refresh()
        if self.env.is_main:
            budget_left = round(self.length.budget.left(), 1)
            self.log.write({"step": step, "total_steps": self.length.total, "budget_left_s": budget_left})

    def agreed_end(self, end: int) -> int:
        """Rank 0's end for every rank (a collective under DDP; one process: its own)."""
        return broadcast_object(end if self.env.is_main else None)

    def validate(self, step: int) -> None:
        record = {}
        for prefix, validation in self.validations.items():
            for name, body in self.validated.items():
                embedder = EmbeddingModel.of(body)
                record.update(validation.evaluate_model(embedder, self.eval_images, self.env.device, prefix + name))
        self.log.write({"step": step, **record})
        self.progress.write(f"step {step}: " + ", ".join(f"{k} {v:.4f}" for k, v in record.items()))

    def save(self, step: int) -> None:
        budget = self.length.budget
        record = {
            "step": step,
            "epoch": step // self.epoch_steps,
            "total_steps": self.length.total,
            "train_seconds": time.perf_counter() - self.started,
            **({"steps_per_second": budget.steps_per_second(step)} if budget is not None else {}),
            "num_classes": self.num_classes,
            "config": self.cfg.to_dict(),
        }
        save_training_state(self.run_dir / "last.pt", self.parts, self.env, record)


def describe(cfg: Config, env: DistEnv, parts: TrainingParts, num_classes: int, images: int, run_dir: Path, step: int):
    n_params = parts.model.parameter_count()
    print(
        f"{cfg.name}: {n_params / 1e6:.2f}M parameters, {num_classes} classes{parts.model.head.describe()}, "
        f"{images} images/epoch, {env.world_size} process(es) on {env.device}, amp={cfg.train.amp}; "
        f"run folder {run_dir}" + (f"; resuming at step {step}" if step else ""),
        flush=True,
    )


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
    epoch_steps = steps_per_epoch(len(dataset), env, tc)
    length = run_length(tc, epoch_steps, started, ckpt)

    # Model, optimizer and schedule, restored when resuming; then the step loop around them.
    families = class_families(dataset.source) if cfg.model.sibling_margin else None
    parts, schedule, step = build_training(cfg, env, dataset.num_classes, length.total, ckpt, ckpt_path, families)
    del ckpt
    train_model = distributed_module(parts, env, tc)
    after_step = AfterStep(cfg, env, run_dir, parts, length, schedule, epoch_steps, dataset.num_classes, started)
    board = run_dir / "tensorboard" if tc.tensorboard else None
    log = JsonlLog(run_dir / "metrics.jsonl", resume_step=step, tensorboard_dir=board) if env.is_main else None
    if env.is_main:
        describe(cfg, env, parts, dataset.num_classes, len(dataset), run_dir, step)
    progress = tqdm(total=length.end, initial=step, desc=cfg.name, disable=not env.is_main, dynamic_ncols=True)
    after_step.log, after_step.progress = log, progress
    loop = StepLoop(
        train_model,
        parts.optimizer,
        parts.scheduler,
        parts.scaler,
        env,
        tc,
        cfg.optim.grad_clip,
        log,
        progress,
        list(parts.model.sharded_parameters().values()),
    )
    try:
        while step < length.end:
            epoch, done = divmod(step, epoch_steps)
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
            # after_step ends the loop at length.end, which a time budget moves as the run goes.
            step = loop.run(iter(loader), epoch_steps - done, step, epoch, after_step)
            del loader
        loop.flush(step, step // epoch_steps)
    except KeyboardInterrupt:
        progress.close()
        if env.is_main:
            print(f"\ninterrupted; continue with: python train.py --resume {run_dir}", file=sys.stderr)
        return TrainResult(parts.model, step, run_dir, interrupted=True)
    finally:
        progress.close()
        if log is not None:
            log.close()
        # gloo can abort at exit if the group is destroyed while DDP still holds it.
        del loop, train_model
        shutdown_distributed()
    if env.is_main:
        finish(cfg, run_dir, step, length.total, started)
    return TrainResult(parts.model, step, run_dir)


def finish(cfg: Config, run_dir: Path, step: int, total_steps: int, started: float) -> None:
    marker = elastic_marker(cfg)
    if marker is not None and step >= total_steps:
        marker.unlink(missing_ok=True)  # the job is done: no restart will look for it
    more = f"; continue with: python train.py --resume {run_dir}" if step < total_steps else ""
    minutes = (time.perf_counter() - started) / 60  # resumed invocations included
    print(
        f"done: step {step} of {total_steps} in {minutes:.1f} min; checkpoint {run_dir / 'last.pt'}{more}", flush=True
    )


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 130 interrupted (resumable), 2 bad config, data or checkpoint (one line
    on stderr), 3 a run that had to stop (non-finite gradients, a checkpoint that cannot be written)."""
    try:
        result = run(sys.argv[1:] if argv is None else argv)
    except (ConfigError, DataError, CheckpointError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 2
    except (NonFiniteError, CheckpointWriteError) as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        return 3
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
