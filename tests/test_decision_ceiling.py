"""bench/decision_ceiling.py: registers drawn from a folder's types, each query's kind in the draw."""

import sys

import numpy as np

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

from decision_ceiling import draw_decisions  # noqa: E402


def test_draws_sort_queries_into_right_wrong_and_unknown_by_the_drawn_register():
    # Four types; queries of types 0..3 and one of an unregistered type (-1). Query 1 ranks type 2
    # first, above its own type 1; every other known query ranks its own type first.
    truth = np.array([0, 1, 2, 3, -1])
    scores = np.full((5, 4), 0.5)
    scores[[0, 2, 3], [0, 2, 3]] = 0.9
    scores[1, 1], scores[1, 2] = 0.8, 0.85
    scores[4, 3] = 0.7
    best, kind = draw_decisions(scores, truth, size=4, draws=3, seed=0)  # every draw holds all four
    assert kind.tolist() == [1, 2, 1, 1, 0] * 3
    np.testing.assert_allclose(best, [0.9, 0.85, 0.9, 0.9, 0.7] * 3)
    best, kind = draw_decisions(scores, truth, size=2, draws=50, seed=0)
    drawn = kind.reshape(50, 5)
    assert (drawn[:, 4] == 0).all() and (drawn[:, :4] >= 0).all()
    assert ((drawn[:, :4] > 0).sum(1) == 2).all()  # two types drawn: their two queries are known
    # Query 1 is wrong only when type 2 is drawn with type 1; alone it is right (0.8), else unknown.
    assert {1, 2, 0} == set(drawn[:, 1].tolist())
    again = draw_decisions(scores, truth, size=2, draws=50, seed=0)
    assert (again[1] == kind).all()  # the same draws for every model
