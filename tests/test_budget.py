"""Training fitted to a wall-clock budget: the arithmetic on a hand-driven clock, then real runs."""

import subprocess

import pytest
import torch

from conftest import ONE_THREAD, ROOT, TINY, ddp_worker_cmd
from engine.budget import RunLength, TimeBudget
from engine.checkpoint import load_checkpoint
from engine.metrics import read_jsonl
from engine.schedule import WarmupDecay
from train import run


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_end_step_is_where_the_measured_speed_meets_the_budget():
    clock = Clock()
    budget = TimeBudget(100.0, settle=10, clock=clock)
    for step in range(1, 11):  # 10 untimed settling steps, 0.5 s each
        clock.now += 0.5
        budget.observe(step)
    assert budget.steps_per_second(10) is None
    assert budget.end_step(10, current_end=5000, limit=9000) == 5000  # nothing measured yet
    for step in range(11, 51):  # 40 steps in 10 s: 4 steps/s, 15 s spent, 85 s left
        clock.now += 0.25
        budget.observe(step)
    assert budget.steps_per_second(50) == pytest.approx(4.0)
    assert budget.left() == pytest.approx(85.0)
    assert budget.end_step(50, 5000, 9000) == 50 + 85 * 4
    assert budget.end_step(50, 5000, limit=200) == 200  # the configured steps stay the upper bound
    budget.pause(5.0)  # a validation pass: the last step will pay one too
    budget.pause(2.0)  # the longest counts
    assert budget.end_step(50, 5000, 9000) == 50 + 80 * 4
    clock.now += 200  # past the budget: end now
    assert budget.end_step(51, 5000, 9000) == 51


def test_a_resumed_run_counts_earlier_time_and_starts_from_the_earlier_speed():
    clock = Clock()
    budget = TimeBudget(100.0, started=clock.now - 60.0, rate=2.0, settle=5, clock=clock)
    assert budget.spent() == pytest.approx(60.0)
    assert budget.end_step(300, current_end=400, limit=10**6) == 300 + 40 * 2  # the checkpoint's speed
    for step in range(301, 316):  # this invocation: 5 settling steps, then 10 steps in 1.25 s
        clock.now += 0.125
        budget.observe(step)
    assert budget.steps_per_second(315) == pytest.approx(8.0)
    assert budget.end_step(315, 380, 10**6) == 315 + 38.125 * 8  # 61.875 s spent


def test_run_length_fits_its_end_every_few_steps_and_stops_an_invocation_early():
    """RunLength: the configured steps without a budget; with one, the end follows the measured speed,
    refitted every 20 steps (a hundredth of a short run), through ``decide`` (DDP: rank 0's answer);
    ``stop_after`` ends this invocation earlier without moving the schedule's end."""
    assert RunLength(500).total == RunLength(500).end == 500 and not RunLength(500).fit(20)
    assert RunLength(500, stop_after=30).end == 30
    clock = Clock()
    length = RunLength(10**6, budget=TimeBudget(100.0, settle=5, clock=clock))
    decided = []
    moved = []
    for step in range(1, 41):  # 4 steps per second
        clock.now += 0.25
        moved.append(length.fit(step, decide=lambda end: decided.append(end) or end))
    assert [s for s, m in zip(range(1, 41), moved, strict=True) if m] == [20]  # 40: same end again
    assert decided and length.total == 40 + 90 * 4 and length.end == length.total
    # A resumed run starts from the checkpoint's speed until it measures its own.
    budget = TimeBudget(100.0, started=clock.now - 60.0, rate=2.0, clock=clock)
    assert RunLength(10**6, budget=budget, ckpt={"step": 300, "total_steps": 400}).total == 300 + 40 * 2


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="positive"):
        TimeBudget(0)


def test_moving_the_schedule_end_keeps_warmup_and_reaches_the_floor():
    schedule = WarmupDecay(total_steps=1000, warmup_steps=10, kind="cosine", min_ratio=0.01)
    assert schedule(4) == pytest.approx(0.5)
    schedule.set_total(100)
    assert schedule(4) == pytest.approx(0.5)  # warm-up is in steps, wherever the end is
    assert schedule(99) < 0.02 and schedule(100) == pytest.approx(0.01)
    schedule.set_total(5)  # an end inside the warm-up shortens it
    assert schedule(4) == pytest.approx(1.0)


# Real runs: tiny_cpu with far more epochs than the budget allows.
BUDGETED = [*TINY, "--data.synthetic.samples_per_class", "16", "--train.epochs", "1000"]


def _train_seconds_and_step(run_dir):
    ckpt = load_checkpoint(run_dir / "last.pt")
    return ckpt["train_seconds"], ckpt["step"], ckpt["total_steps"]


@pytest.mark.slow
def test_a_budgeted_run_ends_in_time_with_its_schedule_finished(tmp_path):
    run_dir = tmp_path / "r"
    result = run(["--cfg", "tiny_cpu", *BUDGETED, "--train.time_budget_min", "0.2", "--run-dir", str(run_dir)])
    seconds, step, total = _train_seconds_and_step(run_dir)
    assert result.step == step == total  # the run ended where its (moved) schedule ends
    assert 32_000 > step > 20  # neither the configured 32,000 steps nor cut off at the start
    assert 6 < seconds < 18  # 12 s budget; the end is re-fitted every 20 steps (every step in so short a run)
    records = read_jsonl(run_dir / "metrics.jsonl")
    fits = [r for r in records if "total_steps" in r]
    assert fits and fits[-1]["total_steps"] == step
    lrs = [r["lr"] for r in records if "lr" in r]
    assert lrs[-1] < 0.05 * 3e-3 < max(lrs)  # warmed up, then decayed to near the floor (0.01 of peak)


@pytest.mark.slow
def test_an_interrupted_budgeted_run_resumes_on_the_same_clock(tmp_path):
    run_dir = tmp_path / "r"
    args = ["--cfg", "tiny_cpu", *BUDGETED, "--train.time_budget_min", "0.2", "--run-dir", str(run_dir)]
    run([*args, "--train.stop_after_steps", "30"])
    first_seconds, first_step, first_total = _train_seconds_and_step(run_dir)
    assert first_step == 30 < first_total < 32_000  # stopped early; its end fitted to the budget
    run(["--resume", str(run_dir)])
    seconds, step, total = _train_seconds_and_step(run_dir)
    assert step == total > 30
    assert first_seconds < seconds < 18  # the same 12 s, counted across both invocations
    # Resumed with a larger budget, the finished run trains on for the time added.
    run(["--resume", str(run_dir), "--train.time_budget_min", "0.3"])
    more_seconds, more_step, more_total = _train_seconds_and_step(run_dir)
    assert more_step == more_total > step
    assert seconds < more_seconds < 24


@pytest.mark.slow
def test_torchrun_ranks_agree_on_the_budgeted_end(tmp_path):
    """Rank 0 measures and decides; every rank moves its schedule alike and stops at the same step."""
    run_dir = tmp_path / "r"
    extra = ("--data.synthetic.samples_per_class", "16", "--train.epochs", "1000", "--train.time_budget_min", "0.2")
    cmd = ddp_worker_cmd(["--standalone", "--nproc_per_node=2"], tmp_path, run_dir, extra)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seconds, step, total = _train_seconds_and_step(run_dir)
    assert step == total and f"done: step {step} of {step}" in proc.stdout
    assert 6 < seconds < 18
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    for k in rank0:
        torch.testing.assert_close(rank0[k], rank1[k], rtol=0, atol=0, msg=k)
