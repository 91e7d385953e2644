"""Calibrate the decision policy on your own documents: which threshold and margin reach a target
for your register, and how often the answers are then right. Torch-free, like infer.py.

    python calibrate.py --register register/ --known photos/ --unknown others/ [--fpr 0.01] [--write]

``--known`` holds photos of registered types, one folder per type named as the type
(``photos/invoice_acme/*.jpg``); ``--unknown`` holds photos of documents that must come out
"unknown" (any layout, searched recursively). The threshold is the lowest score that lets at most
``--fpr`` of the unknown documents through (each by its best-scoring type, as infer.py decides);
the margin the widest gap between the best two types that flags at most ``--flag-rate`` of the
right answers as close calls. Printed with the rates they give and 95 % intervals, next to what
the policy in force gives now and what each of the model's tables (one per kind of register,
policy.CALIBRATIONS) gives at ``--fpr`` for this register's size: your own photos say which
``calibration:`` keeps its promise for your register (a suggestion line names it). ``--write``
puts the calibrated threshold and margin into ``<register>/docclassifier.yaml``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from atomic import write_atomic
from engine.scores import wilson  # NumPy only, as this script
from infer import DEFAULT_MODEL, DEFAULT_REGISTER, DocClassifier, InferError, collect_inputs, expand_inputs
from policy import CALIBRATIONS, FLAG_RATE, SETTINGS_NAME, PolicyError, RegisterSettings, load_settings, registers_of


def rate(successes: int, n: int) -> dict:
    lo, hi = wilson(successes, n)
    return {"rate": successes / n if n else math.nan, "of": n, "interval": [lo, hi]}


def threshold_for(unknown_best: np.ndarray, fpr: float) -> float:
    """The lowest threshold that accepts at most ``fpr`` of the unknown documents (score >= t)."""
    best = np.sort(np.asarray(unknown_best, np.float64))[::-1]
    allowed = int(math.floor(fpr * len(best) + 1e-9))  # how many may pass
    if allowed >= len(best):
        return float(best[-1])
    # Just above the (allowed + 1)-th highest score: it and everything below are rejected.
    return float(np.nextafter(best[allowed], np.inf))


def margin_for(gaps_of_right: np.ndarray, flag_rate: float) -> float:
    """The widest margin that flags (gap < margin) at most ``flag_rate`` of the right answers."""
    gaps = np.sort(np.asarray(gaps_of_right, np.float64))
    allowed = int(math.floor(flag_rate * len(gaps) + 1e-9))
    if len(gaps) == 0:
        return 0.0
    return float(gaps[allowed]) if allowed < len(gaps) else 1.0


def outcomes(known: dict, unknown_best: np.ndarray, threshold: float, margin: float) -> dict:
    """The rates a threshold and margin give on the calibration photos."""
    right, scores, gaps = known["right"], known["best"], known["gap"]
    accepted = scores >= threshold
    n_known, n_unknown = len(scores), len(unknown_best)
    rejected = int((unknown_best < threshold).sum())
    return {
        "threshold": threshold,
        "margin": margin,
        "right_ranked": rate(int(right.sum()), n_known),
        "right_accepted": rate(int((right & accepted).sum()), int(right.sum())),
        "known_accuracy": rate(int((right & accepted).sum()), n_known),
        "unknown_rejected": rate(rejected, n_unknown),
        "overall": rate(int((right & accepted).sum()) + rejected, n_known + n_unknown),
        "ambiguous": rate(int((accepted & (gaps < margin)).sum()), int(accepted.sum())),
        "wrong_flagged": rate(int((~right & accepted & (gaps < margin)).sum()), int((~right & accepted).sum())),
    }


def score_folder(clf: DocClassifier, files: list, warn) -> tuple[np.ndarray, list]:
    """Type scores (files × types) of the readable files, as infer.py decides on them (with the
    header and palette checks' re-ranked scores where they ran), and those files."""
    arrays, kept = [], []
    for path, array in zip(files, clf.read(files), strict=True):
        if isinstance(array, InferError):
            warn(f"{array}; skipped")
        else:
            arrays.append(array)
            kept.append(path)
    if not arrays:
        return np.zeros((0, len(clf.labels))), []
    embeddings = clf.embed_arrays(arrays)
    scores, names = clf.type_scores(embeddings)
    checks = [c for c in (clf.header, clf.palette) if c is not None]
    if checks:  # the scores infer.py decides on: close calls re-ranked by the header, then by colour
        column = {name: i for i, name in enumerate(names)}
        # the whole list the checks work on (each re-scores the best k as they score after the one
        # before, so between them they may touch the sum of their k)
        width = sum(c.k for c in checks)
        for row, m in zip(scores, clf.match(embeddings, k=width, images=kept), strict=True):
            for label, score in m.top:
                row[column[label]] = score
    order = np.argsort(names)  # columns in clf.labels order (sorted)
    # float64: a threshold just above a score must stay above it when compared (NumPy compares a
    # float32 array with a Python float in float32)
    return scores[:, order].astype(np.float64), kept


def write_settings(path: Path, settings: RegisterSettings, threshold: float, margin: float) -> RegisterSettings:
    """The register's settings with this threshold and margin (``fpr`` dropped: a threshold wins
    over it), written atomically; per-type thresholds and the declared calibration (what the
    register holds) are kept."""
    updated = RegisterSettings(None, threshold, margin, settings.types, str(path), settings.calibration)
    write_atomic(
        path, "# Written by calibrate.py; see policy.py (RegisterSettings) for the keys.\n" + updated.to_yaml()
    )
    return updated


def format_report(report: dict) -> str:
    def cell(r):
        lo, hi = r["interval"]
        return f"{r['rate']:.3f} [{lo:.3f}, {hi:.3f}] of {r['of']}"

    lines = [
        f"{report['known']} photos of {report['known_types']} registered types, {report['unknown']} of "
        f"unregistered documents; register of {report['register_size']} types"
    ]
    rows = [("calibrated", report["calibrated"]), ("in force now", report["current"])]
    rows += [(f"the model's table for {registers_of(kind)}", o) for kind, o in report["tables"].items()]
    for name, o in rows:
        lines.append(f"{name}: threshold {o['threshold']:.4f}, margin {o['margin']:.4f}")
        for key, label in (
            ("right_accepted", "right answers accepted"),
            ("known_accuracy", "known documents right"),
            ("unknown_rejected", "unknown documents rejected"),
            ("overall", "decisions right overall"),
            ("ambiguous", "accepted answers flagged ambiguous"),
            ("wrong_flagged", "wrong accepted answers flagged"),
        ):
            lines.append(f"  {label:36s} {cell(o[key])}")
    lines.extend(report["notes"])
    return "\n".join(lines)


def suggest_calibration(tables: dict, fpr: float, settings_path: str) -> str:
    """Which of the model's tables (``tables``: kind → outcomes on the user's photos) a register
    should declare: of those that let at most ``fpr`` of the unknown documents through, the one
    that accepts the most right answers (the stricter on a tie); none: the calibrated threshold."""
    holding = {k: o for k, o in tables.items() if 1 - o["unknown_rejected"]["rate"] <= fpr + 1e-12}
    if not holding:
        least = min(1 - o["unknown_rejected"]["rate"] for o in tables.values())
        return (
            f"suggestion: none of the model's tables keeps the target {fpr:g} on these photos (the strictest lets "
            f"{least:.3f} of the unknown documents through): write the calibrated threshold (--write)"
        )
    kind, o = max(holding.items(), key=lambda ko: (ko[1]["right_accepted"]["rate"], ko[1]["unknown_rejected"]["rate"]))
    what = "keep the default, calibration: any" if kind == "any" else f"declare calibration: {kind} in {settings_path}"
    return (
        f"suggestion: {what}; of the model's tables that keep the target {fpr:g} on these photos, the one for "
        f"{registers_of(kind)} accepts the most right answers ({o['right_accepted']['rate']:.3f}, letting "
        f"{1 - o['unknown_rejected']['rate']:.3f} of the unknown documents through)"
    )


def check_folders(*folders: Path) -> None:
    for folder in folders:
        if not folder.is_dir():
            raise InferError(f"{folder}: folder not found")


def calibrate(clf: DocClassifier, known_dir: Path, unknown_dir: Path, fpr: float, flag_rate: float, warn) -> dict:
    labels = clf.labels
    check_folders(known_dir, unknown_dir)
    folders = sorted(p for p in known_dir.iterdir() if p.is_dir())
    known_files, truth = [], []
    for folder in folders:
        if folder.name not in labels:
            warn(f"{folder}: '{folder.name}' is not a registered type; skipped")
            continue
        files = expand_inputs(collect_inputs([str(folder)]), warn)  # a PDF: each of its pages
        known_files += files
        truth += [labels.index(folder.name)] * len(files)
    if not known_files:
        raise InferError(
            f"{known_dir}: no photos in folders named after registered types ({', '.join(labels[:5])}, ...)"
        )
    unknown_files = expand_inputs(collect_inputs([str(unknown_dir)]), warn)
    if not unknown_files:
        raise InferError(f"{unknown_dir}: no images")

    k_scores, kept = score_folder(clf, known_files, warn)
    truth_of = dict(zip(known_files, truth, strict=True))
    k_truth = np.array([truth_of[p] for p in kept])
    u_scores, _ = score_folder(clf, unknown_files, warn)
    if len(k_truth) == 0 or len(u_scores) == 0:
        raise InferError("no readable photos left in --known or --unknown")

    top2 = -np.partition(-k_scores, 1, axis=1)[:, :2] if k_scores.shape[1] > 1 else np.c_[k_scores, k_scores - 1]
    known = {"right": k_scores.argmax(1) == k_truth, "best": top2[:, 0], "gap": top2[:, 0] - top2[:, 1]}
    unknown_best = u_scores.max(1)

    # Six decimals, as the settings file keeps them: the threshold rounded up and the margin down,
    # so that neither lets more through than calibrated.
    threshold = math.ceil(threshold_for(unknown_best, fpr) * 1e6) / 1e6
    right_accepted = known["right"] & (known["best"] >= threshold)
    margin = math.floor(margin_for(known["gap"][right_accepted], flag_rate) * 1e6) / 1e6
    policy = clf.policy()
    notes = []
    # What each of the model's tables would decide here at the target: the evidence for declaring
    # the register's kind (calibration:) on the user's own documents rather than guessing it.
    tables = {}
    for kind in [k for k in CALIBRATIONS if k in clf.model.tables]:  # the kinds a register can declare
        table = clf.model.tables[kind]
        try:
            at = table.threshold(max(policy.size, 1), fpr)
        except PolicyError as e:
            notes.append(f"note: the model's tables are not shown: {e}")
            break
        tables[kind] = outcomes(known, unknown_best, at, table.margin(max(policy.size, 1)))
    if tables and fpr * len(unknown_best) >= 1:  # enough unknown documents to tell the target from 0
        where = clf.register_dir / SETTINGS_NAME if clf.register_dir is not None else SETTINGS_NAME
        notes.append(suggest_calibration(tables, fpr, str(where)))
    if fpr * len(unknown_best) < 1:
        notes.append(
            f"note: with {len(unknown_best)} unknown documents a rate of {fpr:g} cannot be told from 0: the "
            f"threshold rejects all of them, and the true rate may still be up to {3 / len(unknown_best):.3f} "
            f"(95 %); add at least {math.ceil(3 / fpr)} unknown documents to calibrate it"
        )
    return {
        "register": str(clf.register_dir),
        "register_size": policy.size,
        "known": int(len(k_truth)),
        "known_types": int(len(set(k_truth.tolist()))),
        "unknown": int(len(unknown_best)),
        "fpr": fpr,
        "flag_rate": flag_rate,
        "calibrated": outcomes(known, unknown_best, threshold, margin),
        "current": {**outcomes(known, unknown_best, policy.threshold, policy.margin), "source": policy.source},
        "tables": tables,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--register", default=str(DEFAULT_REGISTER), help="register folder (default: %(default)s)")
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="ONNX model (default: %(default)s)")
    parser.add_argument("--known", required=True, help="photos of registered types: <known>/<type>/*")
    parser.add_argument("--unknown", required=True, help="photos of documents that must be rejected")
    parser.add_argument("--fpr", type=float, default=0.01, help="share of unknown documents let through (%(default)s)")
    parser.add_argument(
        "--flag-rate", type=float, default=FLAG_RATE, help="share of right answers flagged ambiguous (%(default)s)"
    )
    parser.add_argument(
        "--write", action="store_true", help=f"write threshold and margin into <register>/{SETTINGS_NAME}"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    for name in ("fpr", "flag_rate"):
        value = getattr(args, name)
        if not 0.0 <= value < 1.0:
            parser.error(f"--{name.replace('_', '-')} must be in [0, 1), got {value:g}")

    def warn(message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)

    try:
        check_folders(Path(args.known), Path(args.unknown))  # before the register is embedded
        # The policy in force is what the register's settings say (or the model's table): no overrides.
        clf = DocClassifier(args.model, args.register, warn=warn)
        report = calibrate(clf, Path(args.known), Path(args.unknown), args.fpr, args.flag_rate, warn)
        if args.write:
            path = Path(args.register) / SETTINGS_NAME
            current = load_settings(path) if path.is_file() else RegisterSettings()
            written = write_settings(path, current, report["calibrated"]["threshold"], report["calibrated"]["margin"])
            report["written"] = written.path
    except (InferError, PolicyError) as e:
        print(f"calibrate.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"calibrate.py: error: {e.filename or args.register}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
        if "written" in report:
            print(f"wrote threshold and margin to {report['written']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
