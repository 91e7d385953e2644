"""Faults, for real: training processes killed with SIGKILL at random moments and resumed, and a
checkpoint writer killed in the middle of its writes."""

from __future__ import annotations

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
    save_atomic({"n": n, "x": torch.full((8_000_000,), float(n))}, path)
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
        assert ckpt["x"].shape == (8_000_000,) and bool((ckpt["x"] == ckpt["n"]).all())
