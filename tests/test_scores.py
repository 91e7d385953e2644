"""Evaluation metrics against hand-computed cases and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from engine.scores import evaluate_scores, roc_auc, roc_curve, threshold_at_fpr, tpr_at_fpr


def test_hand_computed_case():
    genuine = np.array([0.9, 0.8, 0.4])
    impostor = np.array([0.7, 0.3, 0.2, 0.1])
    fpr, tpr, thr = roc_curve(genuine, impostor)
    assert list(thr) == [np.inf, 0.9, 0.8, 0.7, 0.4, 0.3, 0.2, 0.1]
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.25, 0.25, 0.5, 0.75, 1])
    # 11 of the 12 genuine/impostor pairs are ordered correctly.
    assert roc_auc(genuine, impostor) == pytest.approx(11 / 12)
    (p,) = tpr_at_fpr(genuine, impostor, targets=[0.25])
    assert (p.tpr, p.fpr, p.threshold, p.resolvable) == (1.0, 0.25, 0.4, True)
    (p,) = tpr_at_fpr(genuine, impostor, targets=[0.1])
    assert (p.tpr, p.fpr, p.threshold) == (pytest.approx(2 / 3), 0.0, 0.8)
    assert not p.resolvable  # 4 impostor pairs cannot measure 10%


def test_ties_move_together():
    fpr, tpr, thr = roc_curve(np.array([0.5, 0.5]), np.array([0.5, 0.1]))
    np.testing.assert_allclose(tpr, [0, 1, 1])
    np.testing.assert_allclose(fpr, [0, 0.5, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    genuine = np.round(rng.normal(0.8, 0.1, 300), 3)  # rounding makes ties
    impostor = np.round(rng.normal(0.5, 0.1, 5000), 3)
    labels = np.r_[np.ones(300), np.zeros(5000)]
    scores = np.r_[genuine, impostor]
    fpr, tpr, thr = roc_curve(genuine, impostor)
    sk_fpr, sk_tpr, sk_thr = sk_roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    np.testing.assert_allclose(thr[1:], sk_thr[1:])
    assert roc_auc(genuine, impostor) == pytest.approx(roc_auc_score(labels, scores))
    for p in tpr_at_fpr(genuine, impostor):
        ok = sk_fpr <= p.target_fpr
        assert p.tpr == pytest.approx(sk_tpr[ok].max())
        # The reported threshold really gives that operating point.
        assert (genuine >= p.threshold).mean() == pytest.approx(p.tpr)
        assert (impostor >= p.threshold).mean() <= p.target_fpr


def test_threshold_at_fpr_lets_at_most_that_share_of_impostors_through():
    impostor = np.arange(1000) / 1000.0
    for fpr in (0.1, 0.01, 0.001):
        t = threshold_at_fpr(impostor, fpr)
        assert (impostor > t).mean() <= fpr < (impostor >= t).mean() + 1e-12


def test_evaluate_scores_top1_and_open_set():
    scores = np.array(
        [
            [0.9, 0.2, 0.1],  # type 0, right
            [0.3, 0.6, 0.7],  # type 1, wrong (type 2 wins)
            [0.1, 0.2, 0.95],  # type 2, right
            [0.4, 0.3, 0.2],  # unregistered, best 0.4: rejected at 0.5
            [0.1, 0.8, 0.2],  # unregistered, best 0.8: accepted (a false match)
        ]
    )
    ev = evaluate_scores(scores, np.array([0, 1, 2, -1, -1]), threshold=0.5)
    assert (ev.num_types, ev.num_queries, ev.num_unknown_queries) == (3, 3, 2)
    assert ev.top1 == pytest.approx(2 / 3)
    assert ev.accuracy_at_threshold == pytest.approx(2 / 3)
    assert ev.rejection_rate == pytest.approx(0.5)
    # genuine 0.9, 0.6, 0.95; impostors are the other 12 scores
    assert ev.auc == pytest.approx(
        roc_auc([0.9, 0.6, 0.95], [0.2, 0.1, 0.3, 0.7, 0.1, 0.2, 0.4, 0.3, 0.2, 0.1, 0.8, 0.2])
    )


def test_decisions_by_register_size_on_scores_with_a_known_answer():
    from engine.scores import decisions_by_register_size, wilson

    types, per = 30, 2
    truth = np.r_[np.repeat(np.arange(types), per), np.full(10, -1)]  # 60 known, 10 of no type
    scores = np.full((len(truth), types), 0.5)
    scores[np.arange(60), truth[:60]] = 0.9  # each query's own type
    scores[60:] = 0.6  # the unregistered ones reach the threshold against every type
    scores[:2, :2] = [0.56, 0.545]  # type 0's two queries: just accepted, type 1 a close runner-up
    rows = decisions_by_register_size(scores, truth, lambda n: (0.55, 0.02), sizes=(10, 30, 100))
    assert [r.size for r in rows] == [10, 30]  # a set of 30 types cannot fill 100
    for r in rows:
        assert (r.right_ranked, r.right_accepted, r.known_accuracy) == (1.0, 1.0, 1.0)
        assert r.known_queries == r.size * per and r.unknown_queries == (types - r.size) * per + 10
    r10, r30 = rows
    # 10 types: the 40 queries of undrawn types score 0.5 (rejected), the 10 unregistered 0.6 (accepted)
    assert r10.draws > 1 and r10.unknown_rejected == pytest.approx(40 / 50)
    assert r10.overall == pytest.approx((20 + 40) / 70)
    # every type drawn: the 10 unregistered queries are the only unknown ones, all accepted
    assert r30.draws == 1 and r30.unknown_rejected == 0.0 and r30.overall == pytest.approx(60 / 70)
    assert r30.ambiguous == pytest.approx(12 / 70)  # type 0's two close calls and the 10 ties at 0.6
    # Of the 60 right answers, type 0's two are flagged; of the 10 wrong ones (the unregistered), all.
    assert (r30.flagged_right, r30.flagged_wrong) == (pytest.approx(2 / 60), 1.0)
    lo, hi = r10.intervals["unknown_rejected"]
    assert (lo, hi) == pytest.approx(wilson(0.8 * 50, 50)) and lo < 0.8 < hi
    assert np.isnan(wilson(0, 0)[0])
