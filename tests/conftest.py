import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# A few seconds of real training: 16 templates × 4 instances at 64 px, batch 8.
TINY = [
    "--data.synthetic.num_classes",
    "16",
    "--data.synthetic.samples_per_class",
    "4",
    "--train.batch_size",
    "8",
    "--train.epochs",
    "2",
    "--data.num_workers",
    "0",
    "--train.val_every_steps",
    "0",
    "--optim.warmup_steps",
    "2",
    "--train.log_every_steps",
    "1",
]


ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def assert_close_to_scale(actual, expected, rel: float, path: str = "") -> None:
    """Tensors (in nested dicts) equal up to ``rel`` times each tensor's largest magnitude.

    For two computations that sum the same terms in another order (a sharded head against the
    plain one, two ranks against one): float32 rounding is relative to the size of the terms
    summed, not to each element, so an element that is a near-cancelling sum (a small gradient or
    momentum entry) carries an error set by its tensor's scale. Elementwise rtol/atol holds such
    entries to one machine's rounding; a wrong computation (a missed shard, a wrong normaliser) is
    off by a sizeable fraction of the scale and still fails.
    """
    import torch

    if isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_close_to_scale(actual[key], expected[key], rel, f"{path}.{key}")
    elif torch.is_tensor(expected) and expected.is_floating_point():
        scale = float(expected.abs().max()) if expected.numel() else 0.0
        torch.testing.assert_close(actual, expected, rtol=0, atol=rel * scale, msg=lambda m: f"{path}: {m}")
    elif torch.is_tensor(expected):
        assert torch.equal(actual, expected), path
    else:
        assert actual == expected, path


def ddp_worker_cmd(launch: list[str], tmp_path: Path, run_dir: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """torchrun with ``launch`` options running tests/ddp_worker.py: TINY training of tiny_cpu in
    ``run_dir`` (``extra`` overrides after TINY's), each rank's final weights saved to
    ``tmp_path/rank<R>.pt``."""
    worker = ["tests/ddp_worker.py", str(tmp_path), "--cfg", "tiny_cpu", *TINY, *extra, "--run-dir", str(run_dir)]
    return [sys.executable, "-m", "torch.distributed.run", *launch, *worker]


def run_scripts(runs: list[tuple[str, list]], timeout: float = 180) -> list[subprocess.CompletedProcess]:
    """Each (script, args) as its own Python process in the repo root, all started at once (their
    start-up, mostly importing torch, is what they cost; two cores take two at a time): the completed
    processes, in order, with text stdout and stderr."""
    procs = [
        subprocess.Popen(
            [sys.executable, script, *map(str, args)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for script, args in runs
    ]
    done = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return done


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    # Two cores in CI: keep child processes from oversubscribing them.
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "1"))


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """A checkpoint trained for a few steps by train.py and exported by export_onnx.py: (ckpt, onnx)."""
    import export_onnx
    from train import run

    out = tmp_path_factory.mktemp("tiny_export")
    # A plain normalised-softmax head learns fastest: a few seconds give embeddings that tell documents apart.
    args = ["--cfg", "tiny_cpu", *TINY, "--model.head", "softmax", "--model.scale", "16", "--train.epochs", "6"]
    result = run([*args, "--run-dir", str(out / "run")])
    onnx_path = out / "tiny.onnx"
    assert export_onnx.main(["--ckpt", str(result.run_dir), "--out", str(onnx_path), "--threshold", "0.9"]) == 0
    return result.run_dir / "last.pt", onnx_path
