"""bench/decision_ceiling.py: registers drawn from a folder's types, each query's kind in the draw."""

import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from decision_ceiling import draw_decisions, policy_thresholds  # noqa: E402

from policy import DecisionTable, own_threshold  # noqa: E402


def test_draws_sort_queries_into_right_wrong_and_unknown_by_the_drawn_register():
    # Four types; queries of types 0..3 and one of an unregistered type (-1). Query 1 ranks type 2
    # first, above its own type 1; every other known query ranks its own type first.
    truth = np.array([0, 1, 2, 3, -1])
    scores = np.full((5, 4), 0.5)
    scores[[0, 2, 3], [0, 2, 3]] = 0.9
    scores[1, 1], scores[1, 2] = 0.8, 0.85
    scores[4, 3] = 0.7
    best, kind, chosen = draw_decisions(scores, truth, size=4, draws=3, seed=0)  # every draw holds all four
    assert [sorted(c.tolist()) for c in chosen] == [[0, 1, 2, 3]] * 3
    assert kind.tolist() == [1, 2, 1, 1, 0] * 3
    np.testing.assert_allclose(best, [0.9, 0.85, 0.9, 0.9, 0.7] * 3)
    best, kind, _ = draw_decisions(scores, truth, size=2, draws=50, seed=0)
    drawn = kind.reshape(50, 5)
    assert (drawn[:, 4] == 0).all() and (drawn[:, :4] >= 0).all()
    assert ((drawn[:, :4] > 0).sum(1) == 2).all()  # two types drawn: their two queries are known
    # Query 1 is wrong only when type 2 is drawn with type 1; alone it is right (0.8), else unknown.
    assert {1, 2, 0} == set(drawn[:, 1].tolist())
    again = draw_decisions(scores, truth, size=2, draws=50, seed=0)
    assert (again[1] == kind).all()  # the same draws for every model


def test_the_policy_column_is_infer_pys_threshold_for_each_draw():
    """The table's threshold, lowered where the drawn register's own views allow (split-conformal at
    f; here f = 0.1 and 40 views: three may pass), as infer.py decides for that register."""
    from types import SimpleNamespace

    table = DecisionTable((1, 1000), (0.2, 0.05), ((0.9, 0.9), (0.95, 0.95)), (0.01, 0.01), 0.05)
    embedder = SimpleNamespace(table=table, calibration="any")
    own = np.full((40, 40), 0.5)
    own[np.arange(40), (np.arange(40) + 1) % 40] = np.linspace(0.6, 0.8, 40)  # each view's best other type
    np.fill_diagonal(own, -np.inf)
    drawn = [np.arange(40)]
    (alone,) = policy_thresholds(embedder, None, 40, 0.1, drawn)
    (mine,) = policy_thresholds(embedder, own, 40, 0.1, drawn)
    assert alone == table.threshold(40, 0.1)
    assert mine == own_threshold(own.max(1), 0.1) and mine < alone
    # a draw of fewer views than the rank needs keeps the table's
    assert policy_thresholds(embedder, own, 10, 0.1, [np.arange(10)])[0] == table.threshold(10, 0.1)
