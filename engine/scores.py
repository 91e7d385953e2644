"""Verification and identification metrics from similarity scores (NumPy only).

A query is compared with every registered type. Its score against its own type is a *genuine*
pair; its scores against the other types, and every score of a query whose type is not registered,
are *impostor* pairs. A threshold accepts a pair when score > threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FPR_TARGETS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def roc_curve(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, highest first, starting at (0, 0, +inf).

    Matches ``sklearn.metrics.roc_curve(labels, scores, drop_intermediate=False)``; a pair is
    accepted when its score is >= the threshold at that point.
    """
    genuine, impostor = np.asarray(genuine, np.float64), np.asarray(impostor, np.float64)
    scores = np.concatenate([genuine, impostor])
    labels = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="mergesort")
    scores, labels = scores[order], labels[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # ties move together
    tp = np.cumsum(labels)[last_of_each]
    fp = np.cumsum(1 - labels)[last_of_each]
    tpr = np.r_[0.0, tp / max(len(genuine), 1)]
    fpr = np.r_[0.0, fp / max(len(impostor), 1)]
    return fpr, tpr, np.r_[np.inf, scores[last_of_each]]


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(genuine, impostor)
    return float(np.trapezoid(tpr, fpr))


@dataclass
class OperatingPoint:
    target_fpr: float
    fpr: float  # achieved (≤ target)
    tpr: float
    threshold: float  # accept score >= threshold
    resolvable: bool  # enough impostor pairs to measure this FPR at all


def tpr_at_fpr(genuine: np.ndarray, impostor: np.ndarray, targets=FPR_TARGETS) -> list[OperatingPoint]:
    """The best TPR whose FPR stays at or under each target, and the threshold that gives it."""
    fpr, tpr, thresholds = roc_curve(genuine, impostor)
    points = []
    for target in targets:
        ok = np.flatnonzero(fpr <= target)
        i = ok[np.argmax(tpr[ok])]
        points.append(
            OperatingPoint(target, float(fpr[i]), float(tpr[i]), float(thresholds[i]), len(impostor) * target >= 1)
        )
    return points


def per_type_max(pair_scores: np.ndarray, register_type: np.ndarray, num_types: int) -> np.ndarray:
    """(queries × register examples) → (queries × types): each type scored by its best example."""
    out = np.full((pair_scores.shape[0], num_types), -np.inf)
    for t in range(num_types):
        out[:, t] = pair_scores[:, register_type == t].max(1)
    return out


def split_pairs(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) scores from (queries × types) and each query's type (-1: unregistered)."""
    scores, truth = np.asarray(scores, np.float64), np.asarray(truth)
    rows = np.flatnonzero(truth >= 0)
    impostor_mask = np.ones_like(scores, dtype=bool)
    impostor_mask[rows, truth[rows]] = False
    return scores[rows, truth[rows]], scores[impostor_mask]


def threshold_at_fpr(impostor: np.ndarray, fpr: float) -> float:
    """The smallest score that at most ``fpr`` of impostor pairs exceed."""
    return float(np.quantile(impostor, 1.0 - fpr, method="higher"))


@dataclass
class Evaluation:
    num_types: int
    num_queries: int  # of registered types
    num_unknown_queries: int  # of types not in the register
    top1: float
    auc: float
    points: list[OperatingPoint]
    threshold: float
    accuracy_at_threshold: float  # right type and accepted
    rejection_rate: float  # unknown queries whose best score stays under the threshold (nan if none)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["points"] = [p.__dict__ for p in self.points]
        return d


def evaluate_scores(scores: np.ndarray, truth: np.ndarray, threshold: float) -> Evaluation:
    """``scores`` (queries × types); ``truth`` the type index of each query, -1 for unregistered.

    Genuine pairs: a query with its own type. Impostor pairs: with every other type (all types for
    an unregistered query).
    """
    scores, truth = np.asarray(scores, np.float64), np.asarray(truth)
    known = truth >= 0
    genuine, impostor = split_pairs(scores, truth)
    best, best_score = scores.argmax(1), scores.max(1)
    return Evaluation(
        num_types=scores.shape[1],
        num_queries=int(known.sum()),
        num_unknown_queries=int((~known).sum()),
        top1=float((best[known] == truth[known]).mean()) if known.any() else float("nan"),
        auc=roc_auc(genuine, impostor),
        points=tpr_at_fpr(genuine, impostor),
        threshold=float(threshold),
        accuracy_at_threshold=float(((best == truth) & (best_score >= threshold))[known].mean())
        if known.any()
        else float("nan"),
        rejection_rate=float((best_score[~known] < threshold).mean()) if (~known).any() else float("nan"),
    )


def format_table(ev: Evaluation, title: str = "") -> str:
    lines = [title] if title else []
    lines.append(
        f"{ev.num_types} types, {ev.num_queries} queries of registered types, {ev.num_unknown_queries} of unregistered ones"
    )
    lines.append(f"top-1 {ev.top1:.4f}   ROC AUC {ev.auc:.5f}")
    lines.append(f"{'FPR':>8} {'TPR':>8} {'threshold':>10}")
    for p in ev.points:
        note = "" if p.resolvable else "  (too few impostor pairs to resolve)"
        lines.append(f"{p.target_fpr:>8.0e} {p.tpr:>8.4f} {p.threshold:>10.4f}{note}")
    lines.append(
        f"at threshold {ev.threshold:.4f}: accuracy {ev.accuracy_at_threshold:.4f}, unknown rejected {ev.rejection_rate:.4f}"
    )
    return "\n".join(lines)


HEADLINE = ("top1", "auc", "tpr@1e-3", "tpr@1e-4")  # the figures the README's results tables report


def headline_metrics(scores: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Top-1, ROC AUC and TPR at FPR 1e-3 and 1e-4 of (queries × types) scores."""
    genuine, impostor = split_pairs(scores, truth)
    known = np.asarray(truth) >= 0
    at = {p.target_fpr: p.tpr for p in tpr_at_fpr(genuine, impostor, targets=(1e-3, 1e-4))}
    top1 = float((np.asarray(scores)[known].argmax(1) == np.asarray(truth)[known]).mean()) if known.any() else np.nan
    return dict(zip(HEADLINE, (top1, roc_auc(genuine, impostor), at[1e-3], at[1e-4]), strict=True))


def wilson(successes: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion (95 % by default); (nan, nan) for n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))


@dataclass
class RegisterDecisions:
    """Decisions at the policy's threshold for registers of one size drawn from an evaluation set."""

    size: int
    draws: int
    threshold: float
    margin: float
    known_queries: float  # per draw, on average: queries of the drawn types
    unknown_queries: float  # per draw: queries of every other type, registered in the set or not
    right_ranked: float  # of known queries, first-ranked type right
    right_accepted: float  # of those, accepted (score >= threshold)
    known_accuracy: float  # of known queries, right type and accepted
    unknown_rejected: float  # of unknown queries, best score under the threshold
    overall: float  # right decisions (right type accepted, unknown rejected) over all queries
    ambiguous: float  # of accepted queries, runner-up within the margin
    flagged_right: float  # of right answers accepted, flagged ambiguous: what the margin costs
    flagged_wrong: float  # of wrong answers accepted (another type, or an unknown document), flagged: its worth
    intervals: dict[str, tuple[float, float]]  # 95 % Wilson intervals, n = queries per draw

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def decisions_by_register_size(
    scores: np.ndarray,
    truth: np.ndarray,
    policy,
    sizes=(10, 100, 1000),
    seed: int = 0,
    queries_per_size: int = 20_000,
    per_type: np.ndarray | None = None,
    own: np.ndarray | None = None,
) -> list[RegisterDecisions]:
    """How a decision policy holds as a register grows: for each size N, registers of N types drawn
    at random from the set's types (as many draws as it takes to see about ``queries_per_size``
    queries, at most 200); queries of the drawn types are known, all others unknown. ``policy(N)``
    gives the (threshold, margin) for N types; ``per_type`` (one per type, NaN for none) overrides the
    threshold for the types that have one, as a register's settings file does. With ``own`` (types ×
    types: each type's view's score against each other type, -inf against itself; infer.py's
    self-calibration), each draw's policy is ``policy(N, best)`` with ``best`` the drawn types' views'
    best scores against the other drawn types, and the threshold reported is the draws' mean. Sizes
    larger than the set's types are left out.
    Intervals treat each draw's queries as the sample (draws reuse queries, so pooling them would
    overstate the evidence)."""
    scores, truth = np.asarray(scores, np.float64), np.asarray(truth)
    num_types = scores.shape[1]
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        if size > num_types:
            continue
        threshold, margin = policy(size) if own is None else (None, None)
        thresholds = []
        draws = 1 if size == num_types else int(np.clip(queries_per_size // len(truth), 1, 200))
        counts = ("known", "unknown", "ranked", "accepted", "rejected", "accepted_all", "ambiguous")
        c = dict.fromkeys((*counts, "flagged_right", "flagged_wrong"), 0)
        for _ in range(draws):
            chosen = np.sort(rng.choice(num_types, size, replace=False))
            sub = scores[:, chosen]
            known = np.isin(truth, chosen)
            if own is not None:
                threshold, margin = policy(size, own[np.ix_(chosen, chosen)].max(1))
            thresholds.append(threshold)
            if size > 1:
                top2 = -np.partition(-sub, 1, axis=1)[:, :2]
                best_score, second = top2[:, 0], top2[:, 1]
            else:
                best_score, second = sub[:, 0], np.full(len(sub), -np.inf)
            best = chosen[sub.argmax(1)]
            needed = threshold if per_type is None else np.where(np.isnan(per_type[best]), threshold, per_type[best])
            accepted = best_score >= needed
            ranked = known & (best == truth)
            c["known"] += known.sum()
            c["unknown"] += (~known).sum()
            c["ranked"] += ranked.sum()
            c["accepted"] += (ranked & accepted).sum()
            c["rejected"] += (~known & ~accepted).sum()
            c["accepted_all"] += accepted.sum()
            flagged = accepted & (best_score - second < margin)
            c["ambiguous"] += flagged.sum()
            c["flagged_right"] += (flagged & ranked).sum()
            c["flagged_wrong"] += (flagged & ~ranked).sum()
        n_known, n_unknown = c["known"] / draws, c["unknown"] / draws
        rates = {
            "right_ranked": (c["ranked"], c["known"], n_known),
            "right_accepted": (c["accepted"], c["ranked"], c["ranked"] / draws),
            "known_accuracy": (c["accepted"], c["known"], n_known),
            "unknown_rejected": (c["rejected"], c["unknown"], n_unknown),
            "overall": (c["accepted"] + c["rejected"], c["known"] + c["unknown"], n_known + n_unknown),
            "ambiguous": (c["ambiguous"], c["accepted_all"], c["accepted_all"] / draws),
            "flagged_right": (c["flagged_right"], c["accepted"], c["accepted"] / draws),
            "flagged_wrong": (
                c["flagged_wrong"],
                c["accepted_all"] - c["accepted"],
                (c["accepted_all"] - c["accepted"]) / draws,
            ),
        }
        values = {k: (s / n if n else float("nan")) for k, (s, n, _) in rates.items()}
        intervals = {k: wilson(values[k] * per, per) for k, (_, _, per) in rates.items()}
        out.append(
            RegisterDecisions(
                size,
                draws,
                float(np.mean(thresholds)),
                float(margin),
                n_known,
                n_unknown,
                **values,
                intervals=intervals,
            )
        )
    return out


def format_decisions(rows: list[RegisterDecisions], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(
        f"{'types':>6} {'threshold':>9} {'right-ranked accepted':>24} {'known accuracy':>22} "
        f"{'unknown rejected':>22} {'overall':>22} {'flagged ambiguous: right / wrong answers':>41}"
    )

    def cell(r, key):
        lo, hi = r.intervals[key]
        return f"{getattr(r, key):.3f} [{lo:.3f}, {hi:.3f}]"

    for r in rows:
        lines.append(
            f"{r.size:>6} {r.threshold:>9.4f} {cell(r, 'right_accepted'):>24} {cell(r, 'known_accuracy'):>22} "
            f"{cell(r, 'unknown_rejected'):>22} {cell(r, 'overall'):>22} {r.flagged_right:>23.3f} / {r.flagged_wrong:.3f}"
        )
    return "\n".join(lines)
