"""The decision policy (policy.py): calibration against answers known in closed form or by
enumeration, the register-size lookup, and the accept / unknown / ambiguous decision."""

import itertools
import math

import numpy as np
import pytest

from policy import (
    DecisionTable,
    ImpostorScores,
    PolicyError,
    RegisterSettings,
    calibrate,
    decide,
    load_settings,
    own_passes,
    own_threshold,
    resolve_policy,
)


def _enumerated_far(rows, t, size):
    """Per-query false-accept rate by listing every register of ``size`` of each query's types."""
    rates = []
    for row in rows:
        subsets = list(itertools.combinations(row, size))
        rates.append(sum(max(s) >= t for s in subsets) / len(subsets))
    return float(np.mean(rates))


def test_false_accept_rate_equals_enumerating_every_register():
    rng = np.random.default_rng(1)
    rows = [rng.uniform(0, 1, 9) for _ in range(6)] + [rng.uniform(0, 1, 7)]  # pools of 9 and 7 types
    scores = ImpostorScores(rows)
    assert scores.max_size == 7
    for size in (1, 2, 4, 7):
        for t in (0.2, 0.5, 0.8, 0.95):
            assert scores.false_accept_rate(t, size) == pytest.approx(_enumerated_far(rows, t, size), abs=1e-12)


def test_threshold_is_the_lowest_that_meets_the_target():
    rng = np.random.default_rng(2)
    rows = [rng.uniform(0, 1, 12) for _ in range(20)]
    scores = ImpostorScores(rows)
    for size, target in ((1, 0.1), (3, 0.05), (10, 0.3)):
        t = scores.threshold(size, target)
        assert _enumerated_far(rows, t, size) <= target
        below = max(v for v in np.concatenate(rows) if v < t)  # the next lower operating point
        assert _enumerated_far(rows, below, size) > target


def test_thresholds_match_the_closed_form_for_independent_normal_impostors():
    # Many impostors per query drawn from N(0.5, 0.05): a random register's best of N is the max of
    # N independent draws, so FAR_N(t) = 1 − Φ((t − 0.5) / 0.05)^N and t = 0.5 + 0.05 Φ⁻¹((1 − f)^(1/N)).
    rng = np.random.default_rng(3)
    rows = list(rng.normal(0.5, 0.05, (400, 2000)))
    scores = ImpostorScores(rows)
    phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    for size, target in ((1, 0.01), (10, 0.02), (100, 0.05), (1000, 0.1)):
        t = scores.threshold(size, target)
        exact = 1 - phi((t - 0.5) / 0.05) ** size
        # 800,000 draws: the empirical tail quantile is off by a few of its standard errors at most
        assert exact == pytest.approx(target, rel=0.15), (size, target, t, exact)


def test_margin_flags_the_target_share_of_right_calls():
    rng = np.random.default_rng(4)
    rows = list(rng.normal(0.5, 0.05, (300, 500)))
    genuine = rng.normal(0.75, 0.05, 300)
    scores = ImpostorScores(rows)
    for size in (2, 10, 100):
        m = scores.margin(genuine, size, rate=0.05)
        assert scores.flagged_share(genuine, m, size) <= 0.05 + 1e-9
        assert scores.flagged_share(genuine, m + 0.01, size) > 0.05  # the widest such margin
    # more types, closer runners-up: the same share is reached with a narrower margin
    assert scores.margin(genuine, 100, 0.05) < scores.margin(genuine, 10, 0.05)


def _table():
    rng = np.random.default_rng(5)
    return calibrate(rng.normal(0.8, 0.04, 300), list(rng.normal(0.5, 0.05, (300, 600))), data="normal")


def test_table_lookup_by_register_size_and_target():
    table = _table()
    assert table.sizes[-1] == 500  # a pool of 600 fills the sizes up to 500, not 1,000
    # at a calibrated point the lookup is the calibrated value
    i, j = table.fprs.index(0.02), table.sizes.index(100)
    assert table.threshold(100, 0.02) == pytest.approx(table.thresholds[i][j])
    # the threshold rises with the register and with a stricter target
    values = [table.threshold(n, 0.02) for n in (1, 7, 10, 70, 100, 500, 1000, 10_000)]
    assert values == sorted(values) and values[-1] <= 1.0
    assert table.threshold(100, 0.001) > table.threshold(100, 0.01) > table.threshold(100, 0.1)
    # between two sizes: linear in log size
    lo, hi = table.threshold(100, 0.02), table.threshold(200, 0.02)
    assert table.threshold(round(100 * math.sqrt(2)), 0.02) == pytest.approx((lo + hi) / 2, abs=1e-3)
    # beyond the table: along the upper half's line in log size, about as far again per decade
    step = table.threshold(500, 0.02) - table.threshold(50, 0.02)
    assert table.threshold(5000, 0.02) - table.threshold(500, 0.02) == pytest.approx(step, rel=0.35)
    with pytest.raises(PolicyError, match="outside the calibrated"):
        table.threshold(100, 0.5)
    assert DecisionTable.from_json(table.to_json()) == table


def test_policy_resolves_given_then_settings_then_table_then_recorded():
    """The order infer.py and eval.py decide by: a given threshold or target, then the register's
    settings (a fixed threshold wins over the file's target), then the table at 2 %, then a recorded
    threshold; the margin given, then the settings', then the table's."""
    table, none = _table(), RegisterSettings()
    fixed = RegisterSettings(fpr=0.01, threshold=0.7, margin=0.03, path="reg/docclassifier.yaml")
    target = RegisterSettings(fpr=0.01, path="reg/docclassifier.yaml")

    def resolved(settings, **given):
        r = resolve_policy(100, table, "forms", settings, **given)
        return r.threshold, r.margin, r.fpr, r.calibration

    at = table.threshold
    assert resolved(none) == (at(100, 0.02), table.margin(100), 0.02, "forms")
    assert resolved(target) == (at(100, 0.01), table.margin(100), 0.01, "forms")
    assert resolved(fixed) == (0.7, 0.03, None, None)  # the file fixes both: no table involved
    assert resolved(fixed, fpr=0.05) == (at(100, 0.05), 0.03, 0.05, "forms")  # a given target wins
    assert resolved(fixed, threshold=0.6, margin=0.0) == (0.6, 0.0, None, None)
    assert resolved(target, threshold=0.6) == (0.6, table.margin(100), None, "forms")  # the table's margin
    source = resolve_policy(7, table, "pages", none).source
    assert source == "the model's table for registers of pages: 0.02 of unknown documents accepted among 7 types"
    # without a table: the recorded threshold, and a target cannot be met
    assert resolve_policy(5, None, "any", none, recorded=(0.8, "recorded")).threshold == 0.8
    assert resolve_policy(5, None, "any", fixed).threshold == 0.7
    for settings, given in ((target, {}), (fixed, {"fpr": 0.05})):
        with pytest.raises(PolicyError, match="records no thresholds by false-accept rate"):
            resolve_policy(5, None, "any", settings, **given)


def test_own_threshold_lets_the_target_share_of_the_registers_views_through():
    """Self-calibration on a known distribution, at the split-conformal rank: of 200 views scoring
    0.000, 0.005, ..., 0.995, a target of 2 % lets ⌊0.02 × 201⌋ − 1 = 3 through (0.985 and up), so
    the threshold sits halfway below the third best; a register of fewer than 99 views is too small
    to say at 2 %."""
    scores = np.arange(200) / 200
    rng = np.random.default_rng(0)
    assert [own_passes(n, 0.02) for n in (98, 99, 200, 1000)] == [0, 1, 3, 19]
    t = own_threshold(rng.permutation(scores), 0.02)
    assert t == pytest.approx((0.98 + 0.985) / 2) and (scores >= t).sum() == 3
    assert own_threshold(scores, 0.05) == pytest.approx((0.95 + 0.955) / 2)  # ⌊10.05⌋ − 1 = 9 pass
    assert own_threshold(scores[:98], 0.02) is None
    assert own_threshold(np.r_[scores[:99], -np.inf], 0.02) == pytest.approx((0.485 + 0.49) / 2)  # no view: ignored
    tied = np.r_[np.arange(97) / 100, 0.99, 0.99, 0.99]  # three views tie at the top: none may pass
    assert (tied >= own_threshold(tied, 0.02)).sum() == 0
    # many views from a known law: the threshold converges on its quantile
    normal = rng.normal(0.7, 0.05, 100_000)
    assert own_threshold(normal, 0.02) == pytest.approx(0.7 + 0.05 * 2.053749, abs=2e-3)


def test_the_registers_own_threshold_only_relaxes_the_tables():
    table, none = _table(), RegisterSettings()
    at = table.threshold(100, 0.02)
    low = np.r_[np.linspace(0.0, at - 0.2, 100)]  # a sparse register: its views score far below the table's
    r = resolve_policy(100, table, "any", none, own=lambda: low)
    assert r.threshold == pytest.approx(own_threshold(low, 0.02)) and r.threshold < at and r.fpr == 0.02
    assert r.source == (
        "the register's own examples seen as photos: 0.02 of unknown documents like them accepted among 100 types "
        f"(lower than the model's table for any register: 0.02 of unknown documents accepted among 100 types: {at:.4f})"
    )
    high = np.linspace(at, 1.0, 100)  # a crowded one: the table's threshold stands
    assert resolve_policy(100, table, "any", none, own=lambda: high).threshold == at
    assert resolve_policy(100, table, "any", none, own=lambda: low[:50]).threshold == at  # too few views to say
    given = resolve_policy(100, table, "any", none, threshold=0.9, own=lambda: low)  # a given threshold wins
    assert given.threshold == 0.9 and given.source == "given"
    fixed = RegisterSettings(threshold=0.95, path="reg/docclassifier.yaml")
    assert resolve_policy(100, table, "any", fixed, own=lambda: low).threshold == 0.95

    def not_asked():
        raise AssertionError("the register's views were worked out for nothing")

    off = RegisterSettings(self_calibration=False, path="reg/docclassifier.yaml")
    for size, settings, given in ((98, none, None), (100, off, None), (100, none, False), (100, fixed, None)):
        r = resolve_policy(size, table, "any", settings, own=not_asked, self_calibration=given)
        assert r.source != "" and "own examples" not in r.source
    assert resolve_policy(100, table, "any", off, own=lambda: low, self_calibration=True).threshold < at  # given wins


def test_self_calibration_setting_is_a_boolean(tmp_path):
    path = tmp_path / "docclassifier.yaml"
    path.write_text("self_calibration: false\n")
    settings = load_settings(path)
    assert settings.self_calibration is False and "self_calibration: false" in settings.to_yaml()
    path.write_text("self_calibration: 0.5\n")
    with pytest.raises(PolicyError) as e:
        load_settings(path)
    assert str(e.value) == f"{path}: self_calibration: expected true or false, got 0.5"


def test_unreadable_table_is_one_line():
    with pytest.raises(PolicyError) as e:
        DecisionTable.from_json('{"sizes": [1, 10]}')
    assert "\n" not in str(e.value) and "not readable" in str(e.value)
    with pytest.raises(PolicyError, match="sizes must rise"):
        DecisionTable((10, 1), (0.1,), ((0.5, 0.6),), (0.1, 0.1), 0.05)


def test_decide_accepts_rejects_and_flags_close_calls():
    top = [("invoice_a", 0.91), ("invoice_b", 0.90), ("letter", 0.7)]
    d = decide(top, threshold=0.85, margin=0.02)
    assert d.label == "invoice_a" and d.ambiguous and d.runner_up == ("invoice_b", 0.90)
    d = decide(top, threshold=0.85, margin=0.005)
    assert d.label == "invoice_a" and not d.ambiguous and d.runner_up is None
    d = decide(top, threshold=0.95, margin=0.02)
    assert d.label is None and not d.ambiguous  # unknown is not a close call between two types
    d = decide(top, threshold=0.85, margin=0.02, per_type={"invoice_a": 0.95})
    assert d.label is None  # a stricter threshold for one type
    assert decide([("only", 0.9)], 0.85, 0.02).ambiguous is False
