"""Margin heads and their weightless margin rules against hand computation."""

import math

import pytest
import torch

from models import ArcFace, CosFace, MarginHead, NoMargin, build_head


def _head(rule, scale):
    head = MarginHead(embed_dim=2, num_classes=3, rule=rule, scale=scale)
    with torch.no_grad():
        # Class centres at 0°, 90° and 180° (lengths do not matter: they are normalised).
        head.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]]))
    return head


# An embedding at 60°: cosines to the centres are 0.5, √3/2, −0.5.
EMB = torch.tensor([[math.cos(math.pi / 3), math.sin(math.pi / 3)]]) * 5.0
COS = [0.5, math.sqrt(3) / 2, -0.5]


def test_weight_layout_is_classes_by_dim():
    assert build_head("cosface", 128, 1000, 64.0, 0.4).weight.shape == (1000, 128)


def test_softmax_is_scaled_cosine():
    logits = _head(NoMargin(), scale=10.0).logits(EMB, torch.tensor([1]))
    torch.testing.assert_close(logits, torch.tensor([[10 * c for c in COS]]))


def test_cosface_subtracts_margin_from_target_only():
    head = _head(CosFace(0.4), scale=64.0)
    logits = head.logits(EMB, torch.tensor([1]))
    expected = [64 * COS[0], 64 * (COS[1] - 0.4), 64 * COS[2]]
    torch.testing.assert_close(logits, torch.tensor([expected]))
    # Without labels (evaluation): no margin anywhere.
    torch.testing.assert_close(head.logits(EMB), torch.tensor([[64 * c for c in COS]]))


def test_arcface_adds_angular_margin():
    head = _head(ArcFace(0.5), scale=64.0)
    logits = head.logits(EMB, torch.tensor([0]))  # target at θ = 60°
    expected = [64 * math.cos(math.pi / 3 + 0.5), 64 * COS[1], 64 * COS[2]]
    torch.testing.assert_close(logits, torch.tensor([expected]))


def test_arcface_past_pi_minus_m_stays_monotonic():
    head = _head(ArcFace(0.5), scale=1.0)
    logits = head.logits(EMB, torch.tensor([2]))  # θ = 120° < π − m: the cos(θ + m) branch
    torch.testing.assert_close(logits[0, 2], torch.tensor(math.cos(2 * math.pi / 3 + 0.5)))
    far = torch.tensor([[-1.0, 0.01]])  # θ ≈ 179.4° to class 0: beyond π − m
    cos0 = far[0, 0] / far.norm()
    expected = cos0 - math.sin(math.pi - 0.5) * 0.5
    torch.testing.assert_close(head.logits(far, torch.tensor([0]))[0, 0], expected.float())


@pytest.mark.parametrize("kind", ["cosface", "arcface", "softmax"])
def test_logits_are_fp32_under_bf16_autocast(kind):
    head = build_head(kind, 16, 10, 64.0, 0.4)
    emb, labels = torch.randn(4, 16), torch.arange(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = head.logits(emb.bfloat16(), labels)
        loss, correct = head(emb.bfloat16(), labels)
    assert logits.dtype == loss.dtype == torch.float32
    reference = head.logits(emb.bfloat16().float(), labels)
    torch.testing.assert_close(logits, reference)
    # The head's answer: the cross-entropy of those logits, and how many rows have their class first.
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(reference, labels))
    assert int(correct) == int((reference.argmax(1) == labels).sum())


def test_sibling_margin_raises_the_cosines_of_the_rows_family_only():
    # Classes 0 and 1 are one family, class 2 another.
    families = torch.tensor([0, 0, 1])
    plain = _head(CosFace(0.2), scale=10.0)
    head = MarginHead(2, 3, CosFace(0.2), scale=10.0, sibling_margin=0.15, families=families)
    with torch.no_grad():
        head.weight.copy_(plain.weight)
    labels = torch.tensor([1, 2])
    embeddings = EMB.repeat(2, 1)
    assert head.siblings(labels).tolist() == [[True, False, False], [False, False, False]]
    expected = plain.logits(embeddings, labels)
    expected[0, 0] += 10.0 * 0.15  # row 0 (class 1): its sibling, class 0, scores 0.15 nearer
    torch.testing.assert_close(head.logits(embeddings, labels), expected)
    # The loss is the cross-entropy of those logits: higher than the plain head's for row 0 only.
    loss, _ = head(embeddings, labels)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(expected, labels))
    assert loss > plain(embeddings, labels)[0]
    # Without labels (evaluation) no margin of either kind.
    torch.testing.assert_close(head.logits(embeddings), plain.logits(embeddings))


def test_sibling_margin_pushes_the_sibling_centre_harder():
    families = torch.tensor([0, 0, 1])
    grads = []
    for margin in (0.0, 0.3):
        head = MarginHead(2, 3, CosFace(0.2), scale=10.0, sibling_margin=margin, families=families)
        with torch.no_grad():
            head.weight.copy_(_head(None, 1.0).weight)
        head(EMB, torch.tensor([1]))[0].backward()
        grads.append(head.weight.grad.clone())
    # Descent moves class 0's centre (the sibling) away from the embedding, more with the margin.
    away = [-(g[0] @ EMB[0]).item() for g in grads]
    assert away[1] < away[0] < 0


def test_sibling_margin_needs_family_ids_for_every_class():
    with pytest.raises(ValueError, match="family ids"):
        MarginHead(2, 3, CosFace(0.2), sibling_margin=0.1)
    with pytest.raises(ValueError, match="for 2 classes, the head has 3"):
        MarginHead(2, 3, CosFace(0.2), sibling_margin=0.1, families=torch.tensor([0, 1]))
