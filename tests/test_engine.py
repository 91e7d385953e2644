"""The shared training machinery: AMP step loop, schedule, checkpoints, samplers."""

import itertools
import pickle

import pytest
import torch

from configs import load_config
from data import AugmentedDataset, ResumableSampler, SyntheticDocuments, build_train_dataset, eval_transform
from engine.checkpoint import CheckpointError, load_checkpoint, save_atomic
from engine.distributed import DistEnv
from engine.loop import StepLoop, build_optimizer, grad_scaler
from engine.schedule import WarmupDecay
from models import build_model


@pytest.mark.parametrize("partial_fc", [False, True], ids=["plain_head", "partial_fc"])
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_step_runs_and_loss_falls_on_a_tiny_problem(amp, partial_fc):
    torch.manual_seed(0)
    overrides = ["--train.amp", amp, "--train.log_every_steps", "1000", "--model.partial_fc", str(partial_fc)]
    cfg = load_config("tiny_cpu", overrides)
    data = build_train_dataset(cfg.data, seed=0)
    images, labels = zip(*(data[i] for i in range(0, 64, 8)), strict=True)  # 8 classes, one image each
    batch = (torch.stack(images), torch.tensor(labels))
    model = build_model(cfg.model, cfg.data.image_size, data.num_classes)
    optimizer = build_optimizer(model, cfg.optim)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    env = DistEnv(0, 1, 0, torch.device("cpu"))
    # A PartialFC head's rows are its rank's own: DDP would leave them out, the gradient norm sums them.
    sharded = list(model.sharded_parameters().values())
    assert bool(sharded) == partial_fc
    scaler = grad_scaler(env.device, amp)
    loop = StepLoop(model, optimizer, scheduler, scaler, env, cfg.train, 5.0, None, sharded=sharded)

    def loss() -> float:
        with torch.no_grad():
            return model(*batch)[0].item()  # (loss, correct) whatever the head

    before = loss()
    loop.run(iter([batch] * 25), 25, 0, 0, on_step=lambda s: None)
    after = loss()
    assert torch.isfinite(torch.tensor(after))
    assert after < 0.5 * before, (before, after)


def test_schedule_is_a_pure_function_of_the_step():
    cos = WarmupDecay(total_steps=100, warmup_steps=10, kind="cosine", min_ratio=0.1)
    assert cos(0) == pytest.approx(0.1) and cos(9) == pytest.approx(1.0)
    assert cos(10) == pytest.approx(1.0)
    assert cos(55) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cos(100) == pytest.approx(0.1) and cos(500) == pytest.approx(0.1)
    poly = WarmupDecay(total_steps=110, warmup_steps=10, kind="poly", min_ratio=0.0, power=2.0)
    assert poly(60) == pytest.approx(0.25)
    assert [cos(s) for s in range(100)] == [cos(s) for s in range(100)]


def test_atomic_save_replaces_whole_file_and_cleans_up(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"step": 1, "model": {}, "config": {}}, path)
    save_atomic({"step": 2, "model": {}, "config": {}}, path)
    assert load_checkpoint(path)["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_atomic({"x": Unsaveable()}, path)
    assert load_checkpoint(path)["step"] == 2  # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_malicious_pickle_checkpoint_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": _Exploit()}, f)
    with pytest.raises(CheckpointError, match=r"evil\.pt: not a readable checkpoint \(UnpicklingError: "):
        load_checkpoint(path)  # refused before anything runs: no "pwned"


def test_augmentation_depends_only_on_seed_epoch_and_index():
    cfg = load_config("tiny_cpu")
    a, b = build_train_dataset(cfg.data, seed=3), build_train_dataset(cfg.data, seed=3)
    first = a[5][0]
    torch.rand(100)  # the caller's RNG stream must neither matter nor be consumed
    state = torch.get_rng_state()
    _ = [b[i] for i in (9, 2)]
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(b[5][0], first, rtol=0, atol=0)
    a.set_epoch(1)
    assert not torch.equal(a[5][0], first)


def test_synthetic_templates_are_deterministic_and_distinct():
    src = SyntheticDocuments(num_classes=10, samples_per_class=3, seed=0, long_side=128)
    img, label = src.load(4)
    again, _ = SyntheticDocuments(10, 3, seed=0, long_side=128).load(4)
    assert label == 1 and img.tobytes() == again.tobytes()
    t = eval_transform(64, [0.5] * 3, [0.5] * 3)
    same_class = (t(src.load(3)[0]) - t(src.load(4)[0])).abs().mean()
    other_class = (t(src.load(3)[0]) - t(src.load(9)[0])).abs().mean()
    assert other_class > same_class


def test_sampler_splits_ranks_and_resumes_mid_epoch():
    ds = AugmentedDataset(SyntheticDocuments(10, 2), transform=lambda x: x)
    r0, r1 = (ResumableSampler(ds, 2, r, seed=1) for r in (0, 1))
    for s in (r0, r1):
        s.set_epoch(4)
    i0, i1 = list(r0), list(r1)
    assert len(i0) == len(i1) == 10 and not set(i0) & set(i1)
    r0.set_start(6)
    assert list(r0) == i0[6:] and len(r0) == 4
    r0.set_epoch(5)
    assert len(list(r0)) == 10 and list(r0) != i0


def test_every_kind_of_document_keeps_its_layout_while_content_changes():
    from data.synthetic import KINDS, make_template, render

    t = eval_transform(64, [0.5] * 3, [0.5] * 3)
    by_kind = {}
    for class_id in range(200):
        by_kind.setdefault(make_template(7, class_id).kind, []).append(make_template(7, class_id))
    assert set(by_kind) == set(KINDS)
    for kind, templates in by_kind.items():
        ts = templates[:5]
        same = sum((t(render(x, [1], 160)) - t(render(x, [2], 160))).abs().mean() for x in ts) / len(ts)
        other = (
            sum((t(render(a, [1], 160)) - t(render(b, [1], 160))).abs().mean() for a, b in itertools.pairwise(ts)) / 4
        )
        assert 0 < same < other, kind  # instances differ, but less than types of one kind do


class _LinearClassifier(torch.nn.Module):
    """No batch-dependent layers, so accumulation must match one big batch exactly."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(12, 5)

    def forward(self, images, labels):  # what the step loop asks of a model: (loss, correct)
        logits = self.fc(images.flatten(1))
        return torch.nn.functional.cross_entropy(logits, labels), (logits.argmax(1) == labels).sum()


@pytest.mark.parametrize("optim", ["adamw", "sgd"])
def test_grad_accumulation_equals_one_large_batch(optim):
    torch.manual_seed(0)
    images, labels = torch.randn(8, 3, 2, 2), torch.randint(0, 5, (8,))
    results = []
    for accum, batches in [(1, [(images, labels)]), (2, [(images[:4], labels[:4]), (images[4:], labels[4:])])]:
        cfg = load_config("tiny_cpu", ["--train.grad_accum", str(accum), "--optim.name", optim])
        torch.manual_seed(1)
        model = _LinearClassifier()
        optimizer = build_optimizer(model, cfg.optim)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
        env = DistEnv(0, 1, 0, torch.device("cpu"))
        # No clipping: it could hide a wrongly scaled gradient.
        loop = StepLoop(model, optimizer, scheduler, grad_scaler(env.device, "off"), env, cfg.train, 0.0, None)
        loop.run(iter(batches * 3), 3, 0, 0, on_step=lambda s: None)
        results.append(model.state_dict())
    torch.testing.assert_close(results[0], results[1], rtol=1e-5, atol=1e-6)
