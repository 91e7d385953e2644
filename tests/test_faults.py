"""Faults, for real: training processes killed with SIGKILL at random moments and resumed, and a
checkpoint writer killed in the middle of its writes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import ROOT, TINY
from engine.checkpoint import load_checkpoint
from engine.metrics import read_jsonl

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ARGS = [
    "--cfg",
    "tiny_cpu",
    *TINY,
    "--train.epochs",
    "100",
    "--train.max_steps",
    "100",
    "--train.ckpt_every_steps",
    "5",
]
ARGS += ["--train.log_every_steps", "1", "--data.num_workers", "0"]


def _train(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "train.py", *args]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _logged_steps(run_dir: Path) -> int:
    try:
        return sum(1 for line in (run_dir / "metrics.jsonl").read_text().splitlines() if '"loss"' in line)
    except FileNotFoundError:
        return 0


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = tmp_path / "straight"
    assert _train(*ARGS, "--run-dir", str(straight)).wait(timeout=300) == 0

    rng = random.Random(1234)
    killed = tmp_path / "killed"
    proc = _train(*ARGS, "--run-dir", str(killed))
    kills = 0
    while True:
        start = _logged_steps(killed)  # wait until this attempt is really training, then kill at random
        deadline = time.monotonic() + 120
        while _logged_steps(killed) <= start and proc.poll() is None:
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.02)
        if kills < 3 and proc.poll() is None:
            time.sleep(rng.uniform(0.0, 0.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            kills += 1
            if (killed / "last.pt").exists():
                load_checkpoint(killed / "last.pt")  # whatever the moment, the checkpoint is whole
                proc = _train("--resume", str(killed))
            else:  # killed before the first checkpoint: start again
                proc = _train(*ARGS, "--run-dir", str(killed))
            continue
        assert proc.wait(timeout=300) == 0
        break
    assert kills == 3
    assert not list(killed.glob(".*.tmp"))  # a killed save's temporary is removed by the next save

    a, b = load_checkpoint(straight / "last.pt"), load_checkpoint(killed / "last.pt")
    assert a["step"] == b["step"] == 100
    for name, tensor in a["model"].items():
        torch.testing.assert_close(b["model"][name], tensor, rtol=1e-5, atol=1e-6, msg=name)
    la = [(r["step"], r["loss"]) for r in read_jsonl(straight / "metrics.jsonl") if "loss" in r]
    lb = [(r["step"], r["loss"]) for r in read_jsonl(killed / "metrics.jsonl") if "loss" in r]
    assert [s for s, _ in lb] == [s for s, _ in la] == list(range(1, 101))  # no step missing or twice
    for (_, x), (_, y) in zip(la, lb, strict=True):
        assert y == pytest.approx(x, rel=1e-5, abs=1e-6)


WRITER = """
import sys, torch
from engine.checkpoint import save_atomic
path, n = sys.argv[1], 0
while True:
    n += 1
    save_atomic({"model": {"x": torch.full((8_000_000,), float(n))}, "config": {"n": n}}, path)
    print(n, flush=True)
"""


def test_a_kill_during_a_checkpoint_write_leaves_the_previous_checkpoint_whole(tmp_path):
    path = tmp_path / "last.pt"
    rng = random.Random(7)
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()  # one save done: a checkpoint exists
        time.sleep(rng.uniform(0.0, 0.3))  # then most likely in the middle of the next one
        proc.kill()
        proc.wait(timeout=60)
        ckpt = load_checkpoint(path)
        x = ckpt["model"]["x"]
        assert x.shape == (8_000_000,) and bool((x == ckpt["config"]["n"]).all())


def _rank_pids(parent: int) -> dict[int, int]:
    """{rank: pid} of the workers torchrun (pid ``parent``) runs now."""
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
    ranks = {}
    for pid in map(int, children):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"RANK="):
                ranks[int(item[5:])] = pid
    return ranks


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the ranks through /proc")
def test_torchrun_restarts_the_group_when_a_rank_dies_and_training_continues(tmp_path):
    run_dir = tmp_path / "run"
    args = ["--cfg", "tiny_cpu", *TINY, "--train.epochs", "100", "--train.max_steps", "60"]
    args += ["--train.ckpt_every_steps", "5", "--train.log_every_steps", "1", "--data.num_workers", "0"]
    args += ["--train.output_dir", str(tmp_path / "runs"), "--run-dir", str(run_dir)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--max-restarts=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([*cmd, "train.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while _logged_steps(run_dir) < 12:  # past the second checkpoint
        assert proc.poll() is None and time.monotonic() < deadline, "training did not get going"
        time.sleep(0.05)
    ranks = _rank_pids(proc.pid)
    assert set(ranks) == {0, 1}
    os.kill(ranks[1], signal.SIGKILL)  # one rank dies; torchrun must restart both
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert f"torchrun restart 1: resuming {run_dir}" in out
    assert out.count("done: step 60 of 60") == 1
    steps = [r["step"] for r in read_jsonl(run_dir / "metrics.jsonl") if "loss" in r]
    assert steps == list(range(1, 61))  # resumed at the checkpoint: no step lost or logged twice
    assert load_checkpoint(run_dir / "last.pt")["step"] == 60
    assert not list((tmp_path / "runs").glob(".torchrun-*"))  # the job's note is gone once it is done


def test_without_restarts_a_dead_rank_ends_the_job_instead_of_hanging(tmp_path):
    run_dir = tmp_path / "run"
    args = ["--cfg", "tiny_cpu", *TINY, "--train.epochs", "100", "--train.max_steps", "400"]
    args += ["--train.log_every_steps", "1", "--data.num_workers", "0", "--run-dir", str(run_dir)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "train.py", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while _logged_steps(run_dir) < 5:
        assert proc.poll() is None and time.monotonic() < deadline, "training did not get going"
        time.sleep(0.05)
    ranks = _rank_pids(proc.pid)
    os.kill(ranks[1], signal.SIGKILL)
    killed_at = time.monotonic()
    out, _ = proc.communicate(timeout=120)  # the survivor must not wait for its dead peer
    assert proc.returncode != 0
    assert time.monotonic() - killed_at < 60
    assert "train.py FAILED" in out  # torchrun's report of the failed group, naming its ranks
