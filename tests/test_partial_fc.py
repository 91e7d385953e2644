"""The sharded, sampled margin head against the plain one: same loss, same gradients; real gloo ranks."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from models.heads import build_head, build_margin
from models.partial_fc import PartialFC, shard_bounds

EMBED, CLASSES = 16, 11
SIZES = [5, 3]  # per-rank batch sizes: uneven on purpose


def _problem(kind: str):
    g = torch.Generator().manual_seed(0)
    embeddings = torch.randn(sum(SIZES), EMBED, generator=g)
    labels = torch.randint(0, CLASSES, (sum(SIZES),), generator=g)
    labels[:2] = torch.tensor([0, CLASSES - 1])  # both ends of the class range
    weight = torch.randn(CLASSES, EMBED, generator=g)
    return embeddings, labels, weight


def _reference(kind: str):
    """The unsharded head on one process: loss, d loss / d embeddings, d loss / d weight, and the
    AdamW state of the weight after one step."""
    embeddings, labels, weight = _problem(kind)
    head = build_head(kind, EMBED, CLASSES, scale=16.0, margin=0.3)
    head.weight.data.copy_(weight)
    x = embeddings.clone().requires_grad_(True)
    loss = F.cross_entropy(head.logits(x, labels), labels)
    loss.backward()
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.1)
    optimizer.step()
    return loss.detach(), x.grad, head.weight.grad, optimizer.state_dict()["state"][0]


def test_shard_bounds_cover_every_class_once():
    assert shard_bounds(11, 2) == [0, 6, 11]
    assert shard_bounds(10, 4) == [0, 3, 6, 8, 10]
    assert shard_bounds(3, 1) == [0, 3]


@pytest.mark.parametrize("kind", ["cosface", "arcface", "softmax"])
def test_one_process_equals_the_plain_head(kind):
    embeddings, labels, weight = _problem(kind)
    head = PartialFC(EMBED, CLASSES, build_margin(kind, 0.3), scale=16.0)
    head.weight.data.copy_(weight)
    x = embeddings.clone().requires_grad_(True)
    loss, _ = head(x, labels)
    loss.backward()
    ref_loss, ref_x, ref_w, _ = _reference(kind)
    torch.testing.assert_close(loss, ref_loss)
    torch.testing.assert_close(x.grad, ref_x)
    torch.testing.assert_close(head.weight.grad, ref_w)


def test_sampling_keeps_every_positive_and_the_loss_over_them():
    torch.manual_seed(0)
    head = PartialFC(EMBED, 1000, build_margin("cosface", 0.3), scale=16.0, sample_rate=0.1)
    embeddings, labels = torch.randn(64, EMBED), torch.randint(0, 1000, (64,))
    for _ in range(5):
        loss, _ = head(embeddings, labels)
        index = head.last_index
        assert len(index) == 100 and set(labels.tolist()) <= set(index.tolist())
        assert torch.isfinite(loss)
    many = PartialFC(EMBED, 50, build_margin("cosface", 0.4), sample_rate=0.1)  # more positives than the sampled share
    many(torch.randn(64, EMBED), torch.arange(64) % 50)
    assert len(many.last_index) == 50


def _rank(rank: int, world: int, store: str, kind: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        embeddings, labels, weight = _problem(kind)
        start = sum(SIZES[:rank])
        mine = slice(start, start + SIZES[rank])
        head = PartialFC(EMBED, CLASSES, build_margin(kind, 0.3), scale=16.0)
        head.weight.data.copy_(weight[head.start : head.end])
        x = embeddings[mine].clone().requires_grad_(True)
        loss, correct = head(x, labels[mine])
        loss.backward()
        full = head.full_weight()  # what a checkpoint stores
        on_zero = head.full_weight(dst=0)
        optimizer = torch.optim.AdamW(head.parameters(), lr=0.1)
        optimizer.step()
        state = head.full_optimizer_state(optimizer, dst=0)  # AdamW's moments of all classes, on rank 0
        # Resume onto this number of ranks from a full matrix saved by another number (here: one).
        other = PartialFC(EMBED, CLASSES, build_margin(kind, 0.3), scale=16.0)
        other.load_full_weight(weight * 2)
        other_optimizer = torch.optim.AdamW(other.parameters(), lr=0.1)
        saved = {"state": {0: _reference(kind)[3]}, "param_groups": optimizer.state_dict()["param_groups"]}
        other.load_optimizer_state(other_optimizer, saved)  # a plain head's AdamW state, all rows
        torch.save(
            {
                "loss": loss.detach(),
                "correct": correct,
                "x_grad": x.grad,
                "w_grad": head.weight.grad,
                "rows": (head.start, head.end),
                "full": full,
                "on_zero": on_zero,
                "state": state["state"][0] if state is not None else None,
                "loaded": other.weight.detach(),
                "loaded_state": other_optimizer.state_dict()["state"][0],
            },
            f"{out}/rank{rank}.pt",
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("kind", ["cosface", "arcface"])
def test_two_gloo_ranks_equal_one_process_on_the_same_global_batch(kind, tmp_path):
    mp.start_processes(_rank, args=(2, str(tmp_path / "store"), kind, str(tmp_path)), nprocs=2, start_method="spawn")
    ref_loss, ref_x, ref_w, ref_state = _reference(kind)
    embeddings, labels, weight = _problem(kind)
    head = build_head(kind, EMBED, CLASSES, scale=16.0, margin=0.3)
    head.weight.data.copy_(weight)
    ref_correct = (head.logits(embeddings, labels).argmax(1) == labels).tolist()
    results = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert [r["rows"] for r in results] == [(0, 6), (6, 11)]
    for rank, r in enumerate(results):
        torch.testing.assert_close(r["loss"], ref_loss)  # every rank has the global loss
        start = sum(SIZES[:rank])
        assert int(r["correct"]) == sum(ref_correct[start : start + SIZES[rank]])  # top-1 of its own rows
        # × world size: DistributedDataParallel averages the backbone's gradients over the ranks.
        torch.testing.assert_close(r["x_grad"], 2 * ref_x[start : start + SIZES[rank]])
        torch.testing.assert_close(r["w_grad"], ref_w[slice(*r["rows"])])
        torch.testing.assert_close(r["full"], weight, rtol=0, atol=0)  # 2 shards → 1 matrix
        torch.testing.assert_close(r["loaded"], 2 * weight[slice(*r["rows"])], rtol=0, atol=0)
        # A saved plain head's AdamW moments load onto this rank as its rows.
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(r["loaded_state"][key], ref_state[key][slice(*r["rows"])], rtol=0, atol=0)
    # Gathered on rank 0 only: the weight, and AdamW's moments equal to the plain head's after its step.
    torch.testing.assert_close(results[0]["on_zero"], weight, rtol=0, atol=0)
    assert results[1]["on_zero"] is None and results[1]["state"] is None
    for key in ("exp_avg", "exp_avg_sq", "step"):
        torch.testing.assert_close(results[0]["state"][key], ref_state[key])


def test_full_weight_round_trips_on_one_process():
    head = PartialFC(EMBED, CLASSES)
    full = torch.randn(CLASSES, EMBED)
    head.load_full_weight(full)
    torch.testing.assert_close(head.full_weight(), full, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"class centres of shape \(10, 16\), expected \(11, 16\)"):
        head.load_full_weight(torch.zeros(10, EMBED))
