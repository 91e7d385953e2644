"""The decision policy: accept the best-matching registered type, call the document unknown, or say
that two types are too close to call; and how its threshold and margin follow the register's size.

Torch-free (numpy only): infer.py imports it, and so does the slim inference image.

Why the register's size matters: a document that is not registered is compared with every
registered type, so it gets N chances to pass a per-pair threshold. What a user cares about is the
*per-document* false-accept rate, the chance that the best of its N impostor scores passes:
``FAR_N(t) = P(max of N impostor scores >= t)``, which grows with N at a fixed t.

Calibration, exact and without sampling: take a validation pool of types and queries, each query
with its scores against the pool's types that are not its own (M of them). A register of N types
drawn at random from those M holds, for a query with k impostor scores at or above t, none of them
with probability C(M − k, N) / C(M, N) (hypergeometric). Averaged over queries this is FAR_N(t),
a step function of t; the threshold for N is the lowest t whose FAR_N(t) stays at or below the
target. The margin is calibrated the same way: the widest gap between the best and the second
type that, on queries whose first-ranked type is right, flags at most a target share of them.
Between calibrated sizes the table is interpolated linearly in log N; beyond the largest it is
extended along the straight line fitted to its upper half in log N (the maximum of N draws from a
tail that decays exponentially grows like log N).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Register sizes and per-document false-accept targets the shipped tables are calibrated at.
SIZES = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
FPRS = (0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001)
DEFAULT_FPR = 0.02  # the policy a new register gets: 2 % of unknown documents let through
FLAG_RATE = 0.05  # the margin flags at most this share of right calls as ambiguous


# The kinds of register the model's tables are calibrated for (export_onnx.py), by the name a
# register's settings file declares (``calibration:``). "any" is the stricter of the others at
# every point: it holds for a register of either kind, and is what a register that declares
# nothing gets.
CALIBRATIONS = {
    "any": "the stricter of forms' and pages' at every point",
    "forms": "forms and designs of one kind of document (invoices, tickets, labels of different issuers)",
    "pages": "pages of different documents (reports, manuals, books)",
}
DEFAULT_CALIBRATION = "any"


def registers_of(kind: str) -> str:
    """How a report names the registers a table is for: "any register", "registers of pages"."""
    return "any register" if kind == DEFAULT_CALIBRATION else f"registers of {kind}"


class PolicyError(ValueError):
    """A policy table or setting that cannot be used (the message says which and why)."""


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])


def miss_probability(hits: np.ndarray, pool: np.ndarray, draws: int, log_fact: np.ndarray) -> np.ndarray:
    """P(no hit) when ``draws`` of ``pool`` items are drawn without replacement, ``hits`` of them
    hits: C(pool − hits, draws) / C(pool, draws), elementwise (0 where fewer non-hits than draws)."""
    hits, pool = np.asarray(hits, np.int64), np.asarray(pool, np.int64)
    rest = pool - hits
    ok = rest >= draws
    r, p = np.where(ok, rest, draws), np.maximum(pool, draws)
    log_p = log_fact[r] - log_fact[r - draws] - log_fact[p] + log_fact[p - draws]
    return np.where(ok, np.exp(log_p), 0.0)


class ImpostorScores:
    """Each query's scores against the types that are not its own, sorted, for fast counting."""

    def __init__(self, rows: Sequence[np.ndarray]):
        self.rows = [np.sort(np.asarray(r, np.float64)) for r in rows]
        if not self.rows or min(len(r) for r in self.rows) == 0:
            raise PolicyError("calibration needs queries with at least one impostor score each")
        self.pool = np.array([len(r) for r in self.rows])
        self.max_size = int(self.pool.min())  # the largest register every query's pool can fill
        self._log_fact = _log_factorials(int(self.pool.max()))
        self._values = np.unique(np.concatenate(self.rows))
        # All rows in one sorted array, row i shifted by i × (span + 1): one searchsorted counts
        # every row at once (scores are bounded, so the shifted rows never interleave).
        self._low, self._high = float(self._values[0]), float(self._values[-1])
        step = self._high - self._low + 1.0
        self._offsets = np.arange(len(self.rows), dtype=np.float64) * step - self._low
        self._flat = np.concatenate([r + o for r, o in zip(self.rows, self._offsets, strict=True)])
        self._ends = np.cumsum(self.pool)

    def at_or_above(self, t: np.ndarray | float) -> np.ndarray:
        """For each query, how many of its impostor scores are >= t (t per query, or one for all)."""
        t = np.broadcast_to(np.asarray(t, np.float64), (len(self.rows),))
        keys = np.clip(t, self._low, np.nextafter(self._high, np.inf)) + self._offsets
        counts = self._ends - np.searchsorted(self._flat, keys, side="left")
        return np.where(t <= self._low, self.pool, np.where(t > self._high, 0, counts))

    def false_accept_rate(self, t: float, size: int) -> float:
        """Share of queries whose best impostor among ``size`` random pool types scores >= t."""
        return float(1.0 - miss_probability(self.at_or_above(t), self.pool, size, self._log_fact).mean())

    def threshold(self, size: int, fpr: float) -> float:
        """The lowest threshold whose per-query false-accept rate at ``size`` types is <= ``fpr``."""
        if not 1 <= size <= self.max_size:
            raise PolicyError(f"register size {size} is beyond the calibration pool (1 to {self.max_size})")
        # Candidates: the lowest score, halfway between neighbouring scores, and above the highest
        # (accepting means score >= t; halfway points stay apart after the rows' shift).
        v = self._values
        candidates = np.r_[v[0], (v[:-1] + v[1:]) / 2, v[-1] + 1.0]
        lo, hi = 0, len(candidates) - 1  # FAR falls as t rises; FAR(candidates[-1]) = 0
        while lo < hi:
            mid = (lo + hi) // 2
            if self.false_accept_rate(candidates[mid], size) <= fpr + 1e-12:  # a rate exactly at the target meets it
                hi = mid
            else:
                lo = mid + 1
        return float(candidates[lo])

    def flagged_share(self, genuine: np.ndarray, margin: float, size: int) -> float:
        """Of the queries whose genuine score beats all ``size − 1`` other types drawn with it (a
        right call), the expected share whose best other type comes within ``margin`` of it."""
        others = size - 1
        if others == 0:
            return 0.0
        right = miss_probability(self.at_or_above(genuine), self.pool, others, self._log_fact)
        clear = miss_probability(self.at_or_above(genuine - margin), self.pool, others, self._log_fact)
        total = right.sum()
        return float((right - clear).sum() / total) if total > 0 else 0.0

    def margin(self, genuine: np.ndarray, size: int, rate: float, iterations: int = 40) -> float:
        """The widest margin that flags at most ``rate`` of right calls at ``size`` types."""
        genuine = np.asarray(genuine, np.float64)
        lo, hi = 0.0, 1.0
        if self.flagged_share(genuine, hi, size) <= rate:
            return hi
        for _ in range(iterations):  # flagged share rises with the margin
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if self.flagged_share(genuine, mid, size) <= rate else (lo, mid)
        return lo


def _interpolate(sizes: Sequence[int], values: Sequence[float], n: float) -> float:
    x, y = np.log(np.asarray(sizes, np.float64)), np.asarray(values, np.float64)
    ln = math.log(max(n, 1))
    if ln <= x[-1]:
        return float(np.interp(ln, x, y))
    upper = x >= x[len(x) // 2]  # the upper half's straight line, for registers beyond the table
    slope, intercept = np.polyfit(x[upper], y[upper], 1) if upper.sum() >= 2 else (0.0, y[-1])
    return float(min(max(intercept + slope * ln, y[-1]), 1.0))


@dataclass(frozen=True)
class DecisionTable:
    """Thresholds by per-document false-accept target and register size; margins by size."""

    sizes: tuple[int, ...]
    fprs: tuple[float, ...]
    thresholds: tuple[tuple[float, ...], ...]  # [fpr][size]
    margins: tuple[float, ...]  # [size]
    flag_rate: float
    data: str = ""  # what it was calibrated on

    def __post_init__(self):
        if len(self.sizes) < 1 or list(self.sizes) != sorted(set(self.sizes)) or self.sizes[0] < 1:
            raise PolicyError(f"decision table: sizes must rise from 1 or more, got {self.sizes}")
        if list(self.fprs) != sorted(set(self.fprs), reverse=True) or not all(0 < f < 1 for f in self.fprs):
            raise PolicyError(f"decision table: targets must fall within (0, 1), got {self.fprs}")
        if len(self.thresholds) != len(self.fprs) or any(len(r) != len(self.sizes) for r in self.thresholds):
            raise PolicyError("decision table: one threshold per target and size")
        if len(self.margins) != len(self.sizes):
            raise PolicyError("decision table: one margin per size")

    def threshold(self, size: int, fpr: float = DEFAULT_FPR) -> float:
        """The threshold that keeps unknown documents' false-accept rate at ``fpr`` in a register of
        ``size`` types (interpolated in log size and log target; targets outside the table refused)."""
        if not self.fprs[-1] <= fpr <= self.fprs[0]:
            raise PolicyError(
                f"false-accept target {fpr:g} is outside the calibrated {self.fprs[-1]:g} to {self.fprs[0]:g}"
            )
        per_target = [_interpolate(self.sizes, row, size) for row in self.thresholds]
        # log target falls along the table; np.interp wants rising x
        return float(np.interp(-math.log(fpr), [-math.log(f) for f in self.fprs], per_target))

    def margin(self, size: int) -> float:
        return max(_interpolate(self.sizes, self.margins, size), 0.0)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DecisionTable:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise PolicyError(f"decision table: not readable ({type(e).__name__}: {e})") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict) -> DecisionTable:
        try:
            return cls(
                sizes=tuple(int(s) for s in raw["sizes"]),
                fprs=tuple(float(f) for f in raw["fprs"]),
                thresholds=tuple(tuple(float(t) for t in row) for row in raw["thresholds"]),
                margins=tuple(float(m) for m in raw["margins"]),
                flag_rate=float(raw["flag_rate"]),
                data=str(raw.get("data", "")),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise PolicyError(f"decision table: not readable ({type(e).__name__}: {e})") from None


def calibrate(
    genuine: np.ndarray,
    impostors: Sequence[np.ndarray],
    sizes: Sequence[int] = SIZES,
    fprs: Sequence[float] = FPRS,
    flag_rate: float = FLAG_RATE,
    data: str = "",
) -> DecisionTable:
    """A decision table from validation queries: each one's score against its own type
    (``genuine``) and against every other type of the pool (``impostors``). Sizes the pool cannot
    fill are left out (the table extrapolates to them)."""
    scores = ImpostorScores(impostors)
    genuine = np.asarray(genuine, np.float64)
    if len(genuine) != len(scores.rows):
        raise PolicyError(f"{len(genuine)} genuine scores for {len(scores.rows)} queries")
    sizes = [s for s in sizes if s <= scores.max_size]
    if not sizes:
        raise PolicyError(f"a calibration pool of {scores.max_size} types is too small for the register sizes")
    fprs = sorted(fprs, reverse=True)
    thresholds = tuple(tuple(scores.threshold(s, f) for s in sizes) for f in fprs)
    margins = tuple(scores.margin(genuine, s, flag_rate) for s in sizes)
    return DecisionTable(tuple(sizes), tuple(fprs), thresholds, margins, flag_rate, data)


def tables_to_json(tables: dict[str, DecisionTable]) -> str:
    """The model's tables by register kind (``decision_tables`` in its metadata)."""
    return json.dumps({kind: asdict(t) for kind, t in tables.items()}, separators=(",", ":"))


def tables_from_json(text: str) -> dict[str, DecisionTable]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise PolicyError(f"decision tables: not readable ({type(e).__name__}: {e})") from None
    if not isinstance(raw, dict):
        raise PolicyError("decision tables: expected a mapping of register kinds to tables")
    return {str(kind): DecisionTable.from_dict(table) for kind, table in raw.items()}


def table_for(tables: dict[str, DecisionTable], kind: str, where: str = "") -> DecisionTable | None:
    """A model's table for registers of ``kind`` (None for "any" in a model without tables); a kind
    it was not calibrated for is refused, saying how to add it (``where``: who declared the kind)."""
    table = tables.get(kind)
    if table is None and kind != DEFAULT_CALIBRATION:
        has = ", ".join(sorted(tables)) or "none"
        raise PolicyError(
            f"no decision table for registers of {kind} ({where + '; ' if where else ''}the model has: {has}); "
            "add it with: python export_onnx.py --recalibrate MODEL.onnx --policy-pdf-root DIR"
        )
    return table


def declared_calibration(given: str | None, settings: RegisterSettings) -> tuple[str, str]:
    """The kind of register to decide for and who declared it (for ``table_for``'s refusal): the
    given one, else the settings file's ``calibration:``, else any register."""
    if given is not None:
        return given, "given"
    if settings.calibration is not None:
        return settings.calibration, f"{settings.path}: calibration"
    return DEFAULT_CALIBRATION, ""


def settings_fix_threshold(settings: RegisterSettings, fpr: float | None) -> bool:
    """Whether the register's settings file sets the threshold: it names one and no false-accept
    target is given (a given target wins over the file's threshold)."""
    return fpr is None and settings.threshold is not None


def self_calibrating(given: bool | None, settings: RegisterSettings) -> bool:
    """Whether the register may relax the model's table by its own examples (``own_threshold``):
    as given, else as the settings file says (``self_calibration:``), else yes."""
    return given if given is not None else settings.self_calibration is not False


def own_passes(views: int, fpr: float) -> int:
    """How many of ``views`` may reach the self-calibrated threshold so that one more document like
    them (exchangeable with them: a document of the register's own kind, not registered) reaches
    it with probability at most ``fpr``: ⌊fpr × (views + 1)⌋ − 1, the split-conformal rank (with
    k views above a threshold, the next one is among the k + 1 highest of views + 1 with
    probability (k + 1) / (views + 1)). Below 1 (fewer than 2 / fpr − 1 views) none may, and the
    register is too small to say."""
    return int(math.floor(fpr * (views + 1) + 1e-9)) - 1


def own_threshold(best_others: np.ndarray, fpr: float) -> float | None:
    """Self-calibration on the register itself: each registered type's example seen as a photo
    (``infer.register_view``) is a document of the register's own kind that the register does not
    hold once its own type is left out, and its best score against the *other* types
    (``best_others``, one per type) is what an unknown document like it would score. The lowest
    threshold (halfway between two neighbouring scores, as the model's tables set theirs) that at
    most ``own_passes`` of them reach, so that an unknown document like them passes with
    probability at most ``fpr``; None when the register has too few views to say (fewer than
    2 / fpr − 1: 99 at 2 %).

    Why: the model's tables are calibrated on validation pools, and a register of pages crowds its
    types far less than one of look-alike forms, so the table for any register (the stricter pool)
    turns away many right answers in a register of pages. The register's own views measure how
    crowded *this* register is; ``resolve_policy`` takes the lower of the two thresholds, so the
    register can only relax the table where its own documents say it may (EXPERIMENTS.md)."""
    scores = np.asarray(best_others, np.float64)
    scores = np.sort(scores[np.isfinite(scores)])
    passes = own_passes(len(scores), fpr)  # views allowed at or above the threshold
    if passes < 1:
        return None
    if passes >= len(scores):
        return float(scores[0])  # every view may pass
    v = np.unique(scores)
    candidates = np.r_[(v[:-1] + v[1:]) / 2.0, v[-1] + 1.0]  # between neighbours, and above all
    above = len(scores) - np.searchsorted(scores, candidates, side="left")  # views >= each candidate
    return float(candidates[np.argmax(above <= passes)])  # the lowest that lets at most ``passes`` through


def strictest(tables: Sequence[DecisionTable], data: str = "") -> DecisionTable:
    """One table that holds for registers of each kind the tables were calibrated on: at every size
    and target the highest threshold, and the narrowest margin (flagging at most the target share of
    right calls in each). Sizes are those every table has."""
    if not tables:
        raise PolicyError("no tables to combine")
    fprs = tables[0].fprs
    if any(t.fprs != fprs or t.flag_rate != tables[0].flag_rate for t in tables):
        raise PolicyError("tables calibrated at different targets cannot be combined")
    sizes = [n for n in tables[0].sizes if all(n in t.sizes for t in tables)]
    cols = [[t.sizes.index(n) for n in sizes] for t in tables]
    thresholds = tuple(
        tuple(max(t.thresholds[f][c[j]] for t, c in zip(tables, cols, strict=True)) for j in range(len(sizes)))
        for f in range(len(fprs))
    )
    margins = tuple(min(t.margins[c[j]] for t, c in zip(tables, cols, strict=True)) for j in range(len(sizes)))
    return DecisionTable(tuple(sizes), fprs, thresholds, margins, tables[0].flag_rate, data)


@dataclass(frozen=True)
class Decision:
    label: str | None  # None: unknown
    score: float
    ambiguous: bool  # the runner-up is within the margin of the best
    runner_up: tuple[str, float] | None


def decide(top: Sequence[tuple[str, float]], threshold: float, margin: float, per_type: dict | None = None) -> Decision:
    """Accept the best type when its score reaches its threshold (``per_type`` overrides the
    register's for some labels); flag the call as ambiguous when the second is within ``margin``."""
    best, score = top[0]
    needed = (per_type or {}).get(best, threshold)
    runner = top[1] if len(top) > 1 else None
    ambiguous = runner is not None and score >= needed and score - runner[1] < margin
    return Decision(best if score >= needed else None, score, ambiguous, runner if ambiguous else None)


# --- Register settings ----------------------------------------------------------------------------

SETTINGS_NAME = "docclassifier.yaml"
SETTINGS_KEYS = {"calibration", "fpr", "threshold", "margin", "types", "self_calibration"}


@dataclass(frozen=True)
class RegisterSettings:
    """A register's own policy (``<register>/docclassifier.yaml``, every key optional)::

    calibration: pages # what the register holds: the model's table for such registers
                       # (forms, pages; any, the default: the stricter of the two)
    fpr: 0.01          # share of unknown documents that may pass as some type; the model's
                       # table turns it into the threshold for this register's size
    threshold: 0.9     # or a fixed threshold (wins over fpr)
    margin: 0.02       # best two types closer than this: the answer is flagged ambiguous
    types:             # per-type thresholds
      invoice_acme: {threshold: 0.95}
    self_calibration: false  # decide by the model's table alone, not also by the register's own
                             # examples seen as photos (on by default: policy.own_threshold)
    """

    fpr: float | None = None
    threshold: float | None = None
    margin: float | None = None
    types: dict[str, float] | None = None  # label → its threshold
    path: str = ""
    calibration: str | None = None  # a key of CALIBRATIONS
    self_calibration: bool | None = None  # None: the default (on)

    def to_yaml(self) -> str:
        import yaml

        keys = ("calibration", "fpr", "threshold", "margin", "self_calibration")
        data = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        if self.types:
            data["types"] = {label: {"threshold": t} for label, t in sorted(self.types.items())}
        return yaml.safe_dump(data, sort_keys=False)


def _number(value, where: str, low: float, high: float, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PolicyError(f"{where}: expected a number, got {value!r}")
    if value < low or value > high or (open_low and value == low):
        bound = f"({low:g}, {high:g}]" if open_low else f"[{low:g}, {high:g}]"
        raise PolicyError(f"{where}: must be in {bound}, got {value:g}")
    return float(value)


def load_settings(path) -> RegisterSettings:
    """Read and check a register settings file; every problem is one line naming the file and key."""
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PolicyError(f"{path}: cannot read ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{path}: not valid YAML{where}") from None
    if data is None:
        return RegisterSettings(path=str(path))
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: expected a mapping of settings ({', '.join(sorted(SETTINGS_KEYS))})")
    unknown = sorted(set(map(str, data)) - SETTINGS_KEYS)
    if unknown:
        raise PolicyError(f"{path}: {unknown[0]}: unknown setting (known: {', '.join(sorted(SETTINGS_KEYS))})")
    get = {k: data.get(k) for k in SETTINGS_KEYS}
    calibration = get["calibration"]
    if calibration is not None and (not isinstance(calibration, str) or calibration not in CALIBRATIONS):
        raise PolicyError(f"{path}: calibration: expected one of {', '.join(CALIBRATIONS)}, got {calibration!r}")
    fpr = None if get["fpr"] is None else _number(get["fpr"], f"{path}: fpr", 0.0, 1.0, open_low=True)
    threshold = None if get["threshold"] is None else _number(get["threshold"], f"{path}: threshold", 0.0, 1.0)
    margin = None if get["margin"] is None else _number(get["margin"], f"{path}: margin", 0.0, 1.0)
    types = None
    if get["types"] is not None:
        if not isinstance(get["types"], dict):
            raise PolicyError(f"{path}: types: expected a mapping of type names to settings")
        types = {}
        for label, entry in get["types"].items():
            where = f"{path}: types.{label}"
            if not isinstance(entry, dict) or set(map(str, entry)) != {"threshold"}:
                raise PolicyError(f"{where}: expected {{threshold: NUMBER}}, got {entry!r}")
            types[str(label)] = _number(entry["threshold"], f"{where}.threshold", 0.0, 1.0)
    own = get["self_calibration"]
    if own is not None and not isinstance(own, bool):
        raise PolicyError(f"{path}: self_calibration: expected true or false, got {own!r}")
    return RegisterSettings(fpr, threshold, margin, types, str(path), calibration, own)


@dataclass(frozen=True)
class Resolved:
    """The threshold and margin a register of some size decides with, and where they come from."""

    threshold: float | None  # None: nothing fixes one (no table, no setting, nothing recorded)
    margin: float
    source: str
    fpr: float | None  # the table's false-accept target, when the table set the threshold
    calibration: str | None  # the table's kind, when the table set the threshold or the margin


def resolve_policy(
    size: int,
    table: DecisionTable | None,
    kind: str,
    settings: RegisterSettings,
    *,
    threshold: float | None = None,
    fpr: float | None = None,
    margin: float | None = None,
    recorded: tuple[float, str] | None = None,
    own: Callable[[], np.ndarray] | None = None,
    self_calibration: bool | None = None,
) -> Resolved:
    """Where a register's threshold and margin come from, in order: given ones (``threshold``, or
    ``fpr`` through the table; ``margin``), then the register's settings (a fixed threshold, or a
    false-accept target), then the model's ``table`` for registers of ``kind`` at the register's
    ``size`` (at ``DEFAULT_FPR`` when no target is set), then ``recorded`` (a single threshold and
    its source). Where the table sets the threshold, ``own`` is given (it returns each registered
    type's view's best score against the other types, ``own_threshold``; called only when the
    register is large enough to say) and ``self_calibrating``, the lower of the table's and the
    register's own threshold decides. infer.py and eval.py both decide by it, so an evaluation
    shows the decisions a register's settings make."""
    used_fpr = None
    if threshold is not None:
        source = "given"
    elif settings_fix_threshold(settings, fpr):
        threshold, source = settings.threshold, settings.path
    elif table is not None:
        used_fpr = next((f for f in (fpr, settings.fpr) if f is not None), DEFAULT_FPR)
        threshold = table.threshold(max(size, 1), used_fpr)
        source = (
            f"the model's table for {registers_of(kind)}: {used_fpr:g} of unknown documents accepted among {size} types"
        )
        calibrate_own = own is not None and self_calibrating(self_calibration, settings)
        best = own() if calibrate_own and own_passes(size, used_fpr) >= 1 else None
        mine = own_threshold(best, used_fpr) if best is not None else None
        if mine is not None and mine < threshold:
            views = int(np.isfinite(best).sum())
            source = (
                f"the register's own examples seen as photos: {used_fpr:g} of unknown documents like them accepted "
                f"among {views} types (lower than {source}: {threshold:.4f})"
            )
            threshold = mine
    elif fpr is not None or settings.fpr is not None:
        raise PolicyError(
            "the model records no thresholds by false-accept rate (re-export it with export_onnx.py); give a "
            "threshold instead"
        )
    elif recorded is not None:
        threshold, source = recorded
    else:
        source = "none"
    margin_from_table = margin is None and settings.margin is None and table is not None
    if margin is None:
        margin = settings.margin if settings.margin is not None else table.margin(max(size, 1)) if table else 0.0
    from_table = used_fpr is not None or margin_from_table
    return Resolved(
        None if threshold is None else float(threshold), float(margin), source, used_fpr, kind if from_table else None
    )
