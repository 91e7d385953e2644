"""Real training runs: one process, two torchrun processes on gloo, resume, AMP."""

import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ONE_THREAD, ROOT, TINY, assert_close_to_scale, ddp_worker_cmd
from engine.checkpoint import load_checkpoint
from engine.metrics import read_jsonl
from train import run

pytestmark = pytest.mark.slow


def _losses(run_dir):
    return [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")]


def test_single_process_cli_trains_and_writes_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "train.py", "--cfg", "tiny_cpu", *TINY, "--run-dir", str(run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    done = re.search(r"done: step 16 of 16 in (\d+\.\d) min;", proc.stdout)
    assert done, proc.stdout
    assert "it/s" in proc.stderr  # the tqdm bar
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["step"] == 16 and ckpt["config"]["name"] == "tiny_cpu"
    assert 0 < ckpt["train_seconds"] <= float(done[1]) * 60 + 3  # the last checkpoint, written just before
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "scaler", "rng", "config"}
    records = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 17))
    assert {"loss", "lr", "img_per_s", "acc", "max_rss_gb"} <= set(records[0])
    assert 0.1 < records[-1]["max_rss_gb"] < 8  # peak resident memory of the training process, GiB
    assert (run_dir / "config.yaml").read_text().startswith("name: tiny_cpu")
    assert not list(run_dir.glob("*.tmp"))  # atomic writes leave no temporaries


def test_torchrun_two_gloo_ranks_end_with_identical_weights(tmp_path):
    run_dir = tmp_path / "run"
    cmd = ddp_worker_cmd(["--standalone", "--nproc_per_node=2"], tmp_path, run_dir)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 process(es) on cpu" in proc.stdout
    assert proc.stdout.count("done: step 8 of 8") == 1  # rank 0 alone reports
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for k in rank0:
        torch.testing.assert_close(rank0[k], rank1[k], rtol=0, atol=0, msg=k)
    # The checkpoint (rank 0's) holds those weights, and one RNG state per rank.
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    for k in rank0:
        torch.testing.assert_close(ckpt["model"][k], rank0[k], rtol=0, atol=0)
    # Weights moved away from their initialisation (training happened on both ranks).
    assert len(read_jsonl(run_dir / "metrics.jsonl")) == 8


@pytest.mark.parametrize(
    "extra",
    [
        (),
        ("--model.partial_fc", "true", "--model.sample_rate", "0.5", "--train.amp", "bf16", "--train.ema_decay", "0.9"),
    ],
    ids=["plain_head", "partial_fc_sampled_bf16_ema"],
)
def test_two_torchrun_nodes_on_localhost_train_together(tmp_path, extra):
    """Multi-node as on a cluster: one torchrun per node, one process each, meeting at a c10d
    rendezvous endpoint (here both nodes are this machine). Also with the class centres sharded
    across the nodes (PartialFC), half of each shard's other classes sampled per step, under bf16,
    with a weight average kept."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "run"
    launch = ["--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}"]
    cmd = ddp_worker_cmd([*launch, "--rdzv-id=docclassifier-test"], tmp_path, run_dir, extra)
    nodes = [  # the same command on each "node"
        subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ONE_THREAD)
        for _ in range(2)
    ]
    outputs = [n.communicate(timeout=300)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(outputs)
    assert sum("2 process(es) on cpu" in out for out in outputs) == 1  # global rank 0 reports, on one node
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    ckpt = load_checkpoint(run_dir / "last.pt")
    assert ckpt["world_size"] == 2 and ckpt["step"] == 8
    if extra:  # each node holds its half of the class centres; the checkpoint all of them
        shards = [r.pop("head.weight") for r in ranks]
        assert [len(s) for s in shards] == [8, 8]
        torch.testing.assert_close(ckpt["model"]["head.weight"], torch.cat(shards), rtol=0, atol=0)
        # The average of the body (DDP-wrapped, the same on both ranks), not of the sharded head.
        assert {f"body.{k}" for k in ckpt["ema"]} == {k for k in ckpt["model"] if k != "head.weight"}
        assert all(torch.isfinite(v).all() for v in ckpt["ema"].values())
    for k in ranks[0]:
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0, msg=k)
    losses = _losses(run_dir)
    assert len(losses) == 8 and all(map(math.isfinite, losses))


def test_resume_continues_the_same_curve(tmp_path):
    # Two data-loader workers: per-sample seeding must not depend on which worker loads what.
    args = [
        "--cfg",
        "tiny_cpu",
        *TINY,
        "--data.num_workers",
        "2",
        "--train.epochs",
        "3",
        "--train.ckpt_every_steps",
        "5",
    ]
    full = run([*args, "--run-dir", str(tmp_path / "full")])
    # Stop mid-epoch (8 steps per epoch), after a checkpoint at step 5 and past it: step 11.
    part = run([*args, "--run-dir", str(tmp_path / "part"), "--train.stop_after_steps", "11"])
    assert part.step == 11
    resumed = run(["--resume", str(tmp_path / "part")])
    assert resumed.step == full.step == 24
    torch.testing.assert_close(resumed.model.state_dict(), full.model.state_dict(), rtol=1e-5, atol=1e-6)
    assert _losses(tmp_path / "part") == pytest.approx(_losses(tmp_path / "full"), rel=1e-5)
    assert [r["step"] for r in read_jsonl(tmp_path / "part" / "metrics.jsonl")] == list(range(1, 25))


def test_resume_drops_log_lines_past_the_checkpoint(tmp_path):
    args = ["--cfg", "tiny_cpu", *TINY, "--train.ckpt_every_steps", "4", "--train.tensorboard", "true"]
    run([*args, "--run-dir", str(tmp_path / "r"), "--train.stop_after_steps", "6"])
    # As if the run had logged steps 5 and 6 and then died before the next checkpoint:
    ckpt_path = tmp_path / "r" / "last.pt"
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["step"] == 6
    ckpt["step"] = 4
    torch.save(ckpt, ckpt_path)
    with open(tmp_path / "r" / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "loss": 1.0')  # torn last line
    run(["--resume", str(tmp_path / "r"), "--train.stop_after_steps", "5"])
    assert [r["step"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    # TensorBoard got the same records, and the resume purged steps 5 and 6 of the first invocation.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    board = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    board.Reload()
    loss = board.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4, 5]
    logged = [r["loss"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl")]
    assert [e.value for e in loss] == pytest.approx(logged, rel=1e-6)  # stored as float32


def test_bad_cli_is_one_line_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "train.py", "--cfg", "tiny_cpu", "--train.bach_size", "8"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "train.py: error: unknown config key 'train.bach_size' (did you mean --train.batch_size?)"
    ]


def test_resume_with_more_epochs_follows_the_new_schedule(tmp_path):
    from engine.schedule import WarmupDecay

    args = ["--cfg", "tiny_cpu", *TINY, "--run-dir", str(tmp_path / "r")]
    run([*args, "--train.stop_after_steps", "4"])
    run(["--resume", str(tmp_path / "r"), "--train.epochs", "3", "--train.stop_after_steps", "6"])
    lrs = {r["step"]: r["lr"] for r in read_jsonl(tmp_path / "r" / "metrics.jsonl")}
    new = WarmupDecay(total_steps=24, warmup_steps=2, kind="cosine", min_ratio=0.01)
    assert lrs[5] == pytest.approx(3e-3 * new(4)) and lrs[6] == pytest.approx(3e-3 * new(5))


def test_image_folder_source_trains(tmp_path):
    from PIL import Image

    root = tmp_path / "docs"
    for c, color in enumerate([(200, 30, 30), (30, 30, 200), (30, 160, 30)]):
        (root / f"type{c}").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (80 + 10 * i, 60), color).save(root / f"type{c}" / f"{i}.png")
    result = run(
        [
            "--cfg",
            "tiny_cpu",
            *TINY,
            "--data.sources",
            f"[{{kind: folder, root: '{root}', cache_dir: '{tmp_path / 'cache'}'}}]",
            "--train.batch_size",
            "4",
            "--run-dir",
            str(tmp_path / "r"),
        ]
    )
    assert result.step == 6  # 12 images / batch 4 × 2 epochs
    assert result.model.head.weight.shape[0] == 3


def test_missing_data_folder_is_one_line_error(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "train.py",
            "--cfg",
            "tiny_cpu",
            "--data.sources",
            f"[{{kind: folder, root: '{tmp_path / 'nope'}'}}]",
            "--run-dir",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"train.py: error: {tmp_path / 'nope'}: data folder not found"


@pytest.mark.reliability
def test_a_batch_larger_than_the_data_is_refused_before_training(tmp_path):
    from configs import ConfigError

    # TINY's 16 templates × 4 instances = 64 images: not one step of 2 micro-batches of 40.
    message = r"64 samples are too few for train.batch_size=40 × 1 processes × train.grad_accum=2"
    with pytest.raises(ConfigError, match=message):
        run(
            [
                "--cfg",
                "tiny_cpu",
                *TINY,
                "--run-dir",
                str(tmp_path / "r"),
                "--train.batch_size",
                "40",
                "--train.grad_accum",
                "2",
            ]
        )
    assert not (tmp_path / "r" / "last.pt").exists()


def test_resume_onto_other_classes_is_refused(tmp_path):
    from configs import ConfigError

    run(["--cfg", "tiny_cpu", *TINY, "--run-dir", str(tmp_path / "r"), "--train.stop_after_steps", "2"])
    with pytest.raises(ConfigError, match="checkpoint's head has 16 classes, the data has 8"):
        run(["--resume", str(tmp_path / "r"), "--data.synthetic.num_classes", "8"])


def test_validation_is_logged_and_leaves_training_unchanged(tmp_path):
    args = ["--cfg", "tiny_cpu", *TINY, "--train.ckpt_every_steps", "4", "--model.dropout", "0.2"]
    val = ["--train.val_every_steps", "6", "--train.val_types", "4"]
    plain = run([*args, "--run-dir", str(tmp_path / "plain")])
    part = run([*args, *val, "--run-dir", str(tmp_path / "val"), "--train.stop_after_steps", "6"])
    assert part.step == 6
    resumed = run(["--resume", str(tmp_path / "val")])
    # Dropout draws from the RNG: validation must neither consume nor reset it.
    torch.testing.assert_close(resumed.model.state_dict(), plain.model.state_dict(), rtol=1e-5, atol=1e-6)
    records = read_jsonl(tmp_path / "val" / "metrics.jsonl")
    val = [r for r in records if "val_top1" in r]
    assert [r["step"] for r in val] == [6, 12, 16]
    assert all(0 <= r["val_top1"] <= 1 and 0 <= r["val_auc"] <= 1 and "val_tpr@0.001" in r for r in val)


@pytest.mark.reliability
def test_non_finite_gradients_skip_steps_and_stop_the_run_after_k_in_a_row(tmp_path):
    # A learning rate of 1e30 makes the weights overflow after the first update: every later step's
    # gradients are NaN. Those steps are skipped and counted; three in a row end the run.
    base = [sys.executable, "train.py", "--cfg", "tiny_cpu", *TINY, "--optim.lr", "1e30", "--optim.warmup_steps", "0"]
    base += ["--train.log_every_steps", "1"]
    proc = subprocess.run(
        [*base, "--train.max_nonfinite_steps", "3", "--run-dir", str(tmp_path / "stop")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 3
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("train.py: error: step 4: gradients not finite for 3 steps in a row (steps 2 to 4, epoch 0;")
    assert "Traceback" not in proc.stderr
    logged = read_jsonl(tmp_path / "stop" / "metrics.jsonl")
    assert [r.get("skipped_steps", 0) for r in logged] == [0, 1, 1, 1]

    # 0: never stop; the run ends normally and the skipped steps are all counted.
    result = run([*base[2:], "--train.max_nonfinite_steps", "0", "--run-dir", str(tmp_path / "go")])
    skipped = sum(r.get("skipped_steps", 0) for r in read_jsonl(tmp_path / "go" / "metrics.jsonl") if "loss" in r)
    assert result.step == 16 and skipped == 15


@pytest.mark.reliability
def test_unreadable_training_images_are_reported_and_replaced(tmp_path, capfd):
    from PIL import Image

    root = tmp_path / "docs"
    for c, color in enumerate([(200, 30, 30), (30, 30, 200), (30, 160, 30)]):
        (root / f"type{c}").mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (80 + 10 * i, 60), color).save(root / f"type{c}" / f"{i}.png")
    (root / "type1" / "2.png").write_bytes(b"")  # emptied
    good = (root / "type2" / "1.png").read_bytes()
    (root / "type2" / "1.png").write_bytes(good[: len(good) // 2])  # cut short
    sources = f"[{{kind: folder, root: '{root}', cache_dir: '{tmp_path / 'cache'}'}}]"
    args = ["--cfg", "tiny_cpu", *TINY, "--data.sources", sources]
    result = run([*args, "--train.batch_size", "4", "--data.num_workers", "0", "--run-dir", str(tmp_path / "r")])
    assert result.step == 6  # every batch made: the bad files were replaced
    err = capfd.readouterr().err.replace("\r", "\n")  # the progress bar shares stderr
    warnings = ["warning: " + line.split("warning: ", 1)[1] for line in err.splitlines() if "warning: " in line]
    assert any(f"{root / 'type1' / '2.png'}: unreadable image" in w for w in warnings), warnings
    assert any(f"{root / 'type2' / '1.png'}: unreadable image" in w for w in warnings), warnings
    assert all(w.endswith("; replaced by the next sample") for w in warnings)
    assert len(warnings) == 2  # once per file, not once per epoch


def _train_cli(*args, timeout=300):
    cmd = [sys.executable, "train.py", "--cfg", "tiny_cpu", *TINY, *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.reliability
def test_unwritable_or_full_run_folder_stops_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = _train_cli("--run-dir", blocker / "run")  # a file where a folder should be
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"train.py: error: {blocker / 'run'}: cannot write the run folder (Not a directory)"]  # fmt: skip
    full = tmp_path / "full"
    full.mkdir()
    (full / "config.yaml").symlink_to("/dev/full")  # every write: "No space left on device"
    proc = _train_cli("--run-dir", full)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"train.py: error: {full}: cannot write the run folder (No space left on device)"]  # fmt: skip
    assert "step" not in proc.stdout  # not one training step ran


def _can_mount() -> bool:
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


@pytest.mark.reliability
@pytest.mark.skipif(not _can_mount(), reason="needs root and unshare to mount a tiny tmpfs")
def test_a_full_disk_at_checkpoint_time_stops_the_run_with_one_line(tmp_path):
    # The run folder is a 64 KiB tmpfs in a private mount namespace: config.yaml fits, the checkpoint
    # does not. The run must stop at its first save with one line naming the file, not a traceback.
    run_dir = tmp_path / "small-disk"
    run_dir.mkdir()
    train = [sys.executable, "train.py", "--cfg", "tiny_cpu", *TINY, "--run-dir", str(run_dir)]
    script = f'mount -t tmpfs -o size=64k tmpfs {run_dir} && exec "$@"'
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *train],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"train.py: error: {run_dir / 'last.pt'}: cannot write the step ")
    assert last.endswith("checkpoint (No space left on device); the previous one is intact")
    assert "Traceback" not in proc.stderr


# PartialFC: the class-sharded head in real training runs. Its checkpoint holds every class's centre
# and optimizer state in the plain head's layout, so each run below is compared with the plain head's.
# Over a step or two, with SGD: the tiny model is chaotic enough that float rounding differences (the
# two compute the same loss in another order) grow visibly within a few steps, and AdamW turns
# rounding-level gradients of opposite sign into updates of ±lr at once. A wiring error (DDP averaging
# a shard, a shard's gradient norm left out of clipping, rows of the wrong rank) differs at step 1.
# AdamW's moments go through the same gathering and sharding: tests/test_partial_fc.py checks them.
PARTIAL = ["--model.partial_fc", "true"]
SGD = ["--optim.name", "sgd", "--optim.lr", "0.01", "--optim.grad_clip", "1.0"]  # clipping bites (norms ~30)


def _torchrun(tmp_path: Path, run_dir: Path, args: list[str]) -> None:
    """Two ranks on gloo; each saves its final weights to tmp_path/<run_dir name>/rank<R>.pt."""
    out = tmp_path / run_dir.name
    out.mkdir(exist_ok=True)
    worker = ["tests/ddp_worker.py", str(out), *args, "--run-dir", str(run_dir)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *worker]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _assert_checkpoints_close(a: Path, b: Path) -> None:
    """The same step, weights and optimizer state (SGD's momentum of every parameter).

    The two runs sum the same terms in another order, so they agree to float32 rounding of sums
    over a batch's pixels (measured: 8e-5 of a tensor's largest entry, in the first convolution's
    momentum, whose gradient sums over every pixel of the batch); 1e-3 of the scale leaves room
    for other CPUs and torch builds, and a real difference (a missed shard or class) is far larger.
    """
    ca, cb = load_checkpoint(a / "last.pt"), load_checkpoint(b / "last.pt")
    assert ca["step"] == cb["step"]
    assert ca["model"]["head.weight"].shape == cb["model"]["head.weight"].shape == (16, 64)
    assert_close_to_scale(ca["model"], cb["model"], rel=1e-3)
    assert_close_to_scale(ca["optimizer"]["state"], cb["optimizer"]["state"], rel=1e-3)


def test_partial_fc_on_one_process_trains_as_the_plain_head(tmp_path):
    args = ["--cfg", "tiny_cpu", *TINY, *SGD, "--train.stop_after_steps", "2"]
    run([*args, "--run-dir", str(tmp_path / "plain")])
    sharded = run([*args, *PARTIAL, "--run-dir", str(tmp_path / "partial")])
    assert type(sharded.model.head).__name__ == "PartialFC"
    assert _losses(tmp_path / "partial") == pytest.approx(_losses(tmp_path / "plain"), rel=1e-5)
    accuracy = [[r["acc"] for r in read_jsonl(tmp_path / d / "metrics.jsonl")] for d in ("plain", "partial")]
    assert accuracy[0] == accuracy[1]
    _assert_checkpoints_close(tmp_path / "partial", tmp_path / "plain")


def test_partial_fc_on_two_ranks_matches_ddp_and_resumes_on_one_process(tmp_path):
    args = ["--cfg", "tiny_cpu", *TINY, *SGD, "--train.stop_after_steps", "1"]
    _torchrun(tmp_path, tmp_path / "partial", [*args, *PARTIAL])
    _torchrun(tmp_path, tmp_path / "plain", args)
    # Two shards of 8 classes, gathered into rank 0's checkpoint: the plain DDP run's state.
    shards = [torch.load(tmp_path / "partial" / f"rank{r}.pt", weights_only=True)["head.weight"] for r in (0, 1)]
    assert [len(s) for s in shards] == [8, 8]
    ckpt = load_checkpoint(tmp_path / "partial" / "last.pt")
    assert ckpt["world_size"] == 2 and ckpt["step"] == 1
    torch.testing.assert_close(ckpt["model"]["head.weight"], torch.cat(shards), rtol=0, atol=0)
    _assert_checkpoints_close(tmp_path / "partial", tmp_path / "plain")
    # 2 ranks → 1 process: the sharded run goes on as the plain one does.
    resumed = run(["--resume", str(tmp_path / "partial"), "--train.stop_after_steps", "2"])
    run(["--resume", str(tmp_path / "plain"), "--train.stop_after_steps", "2"])
    assert resumed.step == 2 and resumed.model.head.weight.shape == (16, 64)
    _assert_checkpoints_close(tmp_path / "partial", tmp_path / "plain")


def test_partial_fc_resumes_from_one_process_onto_two_ranks(tmp_path):
    run(
        [
            "--cfg",
            "tiny_cpu",
            *TINY,
            *SGD,
            *PARTIAL,
            "--run-dir",
            str(tmp_path / "one"),
            "--train.stop_after_steps",
            "1",
        ]
    )
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    # 1 process → 2 ranks, sharded (each rank takes its rows of weights and momenta) and plain DDP.
    more = ["--train.stop_after_steps", "2"]
    _torchrun(tmp_path, tmp_path / "one", ["--resume", str(tmp_path / "one"), *more])
    _torchrun(tmp_path, tmp_path / "two", ["--resume", str(tmp_path / "two"), "--model.partial_fc", "false", *more])
    ckpt = load_checkpoint(tmp_path / "one" / "last.pt")
    assert ckpt["world_size"] == 2 and ckpt["step"] == 2
    rank1 = torch.load(tmp_path / "one" / "rank1.pt", weights_only=True)["head.weight"]
    torch.testing.assert_close(rank1, ckpt["model"]["head.weight"][8:], rtol=0, atol=0)
    _assert_checkpoints_close(tmp_path / "one", tmp_path / "two")
