"""Pictures of a model's training and evaluation: training curves, ROC curve, score histograms.

    python -m engine.plot runs/<run>                 # → runs/<run>/curves.png
    python -m engine.plot runs/a runs/b --out ab.png  # several runs on the same axes
    python eval.py --model M --data D --plots DIR     # → DIR/roc.png, DIR/scores.png (plot_evaluation)

Four panels: the training loss (and the accuracy on training batches), the learning rate, images per
second, and every validation figure the run logged (top-1 and TPR at FPR 1e-3 of each validation set,
for the trained weights and their moving average). A run that was interrupted and resumed has one
record per step (``JsonlLog`` drops what the checkpoint did not keep), so the curves join up.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

STEP_KEYS = ("loss", "acc", "lr", "img_per_s")
VALIDATION_FIGURES = ("top1", "tpr@0.001")  # of each validation prefix; AUC and TPR@1e-2 stay in the log


class PlotError(Exception):
    pass


def read_run(run: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(training series, validation series) of a run folder or a metrics.jsonl file: each name →
    (steps, values), sorted by step."""
    path = run / "metrics.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise PlotError(f"{run}: no metrics.jsonl (is it a run folder of train.py?)")
    train: dict[str, list[tuple[int, float]]] = {}
    val: dict[str, list[tuple[int, float]]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line of a killed run
        if not isinstance(record, dict) or "step" not in record:
            raise PlotError(f"{path}:{number}: not a metrics record (no step)")
        step = record["step"]
        for key, value in record.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            if key in STEP_KEYS:
                train.setdefault(key, []).append((step, value))
            elif key.startswith("val") and key.endswith(VALIDATION_FIGURES):
                val.setdefault(key, []).append((step, value))
    if not train and not val:
        raise PlotError(f"{path}: no training or validation records")

    def arrays(series):
        out = {}
        for key, points in series.items():
            points.sort()
            steps, values = zip(*points, strict=True)
            out[key] = (np.array(steps), np.array(values, dtype=float))
        return out

    return arrays(train), arrays(val)


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` records (shorter at the start), for a readable loss curve."""
    if window <= 1 or len(values) < 2:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def plot_runs(runs: list[Path], out: Path) -> Path:
    plt = _pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    (ax_loss, ax_lr), (ax_speed, ax_val) = axes
    ax_acc = ax_loss.twinx()
    ax_acc.set_ylabel("accuracy on training batches (dotted)")
    ax_acc.set_ylim(0, 1)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, run in enumerate(runs):
        train, val = read_run(run)
        colour = colours[r % len(colours)]
        label = run.name if run.is_dir() else run.parent.name
        if "loss" in train:
            steps, loss = train["loss"]
            ax_loss.plot(steps, loss, color=colour, alpha=0.25, lw=0.8)
            ax_loss.plot(steps, smooth(loss, 20), color=colour, lw=1.6, label=f"{label} loss")
        if "acc" in train:
            steps, acc = train["acc"]
            ax_acc.plot(steps, smooth(acc, 20), color=colour, ls=":", lw=1.4)
        if "lr" in train:
            ax_lr.plot(*train["lr"], color=colour, label=label)
        if "img_per_s" in train:
            steps, speed = train["img_per_s"]
            ax_speed.plot(steps, speed, color=colour, alpha=0.3, lw=0.8)
            ax_speed.plot(
                steps, smooth(speed, 20), color=colour, lw=1.6, label=f"{label} (median {np.median(speed):.0f})"
            )
        styles = ["-", "--", "-.", ":"]
        for k, (key, (steps, values)) in enumerate(sorted(val.items())):
            # One run: a colour per figure. Several: a colour per run, a line style per figure.
            c = colours[k % len(colours)] if len(runs) == 1 else colour
            ls = "-" if len(runs) == 1 else styles[k % len(styles)]
            ax_val.plot(steps, values, marker="o", ms=3, ls=ls, color=c, label=f"{label} {key}")
    ax_loss.set_title("training loss (smoothed over 20 records)")
    ax_lr.set_title("learning rate")
    ax_lr.set_yscale("log")
    ax_speed.set_title("images per second")
    ax_val.set_title("validation")
    ax_val.set_ylim(0, 1.02)
    for ax in axes.flat:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(", ".join(str(r) for r in runs), fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_evaluation(genuine, impostor, points, threshold: float, out_dir: Path, title: str = "") -> list[Path]:
    """``roc.png``: TPR against FPR on a log axis, each of ``points`` (engine.scores.OperatingPoint:
    the TPR-at-FPR table) marked with its threshold and the model's ``threshold`` as a star;
    ``scores.png``: histograms of genuine and impostor scores (each normalised to its own count,
    log scale, as impostors outnumber genuine pairs by the register size) with the threshold."""
    from engine.scores import roc_curve

    plt = _pyplot()
    genuine, impostor = np.asarray(genuine, float), np.asarray(impostor, float)
    out_dir.mkdir(parents=True, exist_ok=True)
    fpr, tpr, thresholds = roc_curve(genuine, impostor)
    floor = 0.5 / max(len(impostor), 1)  # the smallest FPR this set can show, halved, for the log axis

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    ax.step(
        np.maximum(fpr, floor),
        tpr,
        where="post",
        lw=1.6,
        label=f"{len(genuine)} genuine, {len(impostor)} impostor pairs",
    )
    high = 0  # labels of points near TPR 1 go in rows of their own, top down, so they do not overlap
    for p in points:
        if not p.resolvable:
            continue
        x = max(p.fpr, floor)
        ax.plot(x, p.tpr, "o", color="C1", ms=5)
        where, offset = "offset points", (6, 10) if p.tpr < 0.1 else (6, -22)
        if p.tpr > 0.9:
            high += 1
            where, offset = "axes fraction", (0.22, 0.86 - 0.06 * high)
        label = f"FPR {p.target_fpr:g}: TPR {p.tpr:.3f}, threshold {p.threshold:.3f}"
        ax.annotate(
            label,
            (x, p.tpr),
            textcoords=where,
            xytext=offset,
            fontsize=7,
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.6},
        )
    accepted = genuine >= threshold
    at_fpr = float((impostor >= threshold).mean()) if len(impostor) else 0.0
    ax.plot(max(at_fpr, floor), accepted.mean(), "*", color="C3", ms=12, label=f"model threshold {threshold:.3f}")
    ax.set_xscale("log")
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate (impostor pairs accepted), log scale")
    ax.set_ylabel("true positive rate (genuine pairs accepted)")
    ax.set_title(("ROC  " + title).strip(), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    roc = out_dir / "roc.png"
    fig.savefig(roc, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 5.0))
    lo = min(genuine.min(initial=1.0), impostor.min(initial=1.0))
    bins = np.linspace(lo, 1.0, 80)
    for values, name, colour in ((impostor, "impostor", "C0"), (genuine, "genuine", "C2")):
        if len(values):
            weights = np.full(len(values), 1.0 / len(values))
            ax.hist(values, bins=bins, weights=weights, alpha=0.55, color=colour, label=f"{name} ({len(values)})")
    ax.axvline(threshold, color="C3", ls="--", label=f"threshold {threshold:.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("score: (cos + 1) / 2")
    ax.set_ylabel("share of pairs, log scale")
    ax.set_title(("Scores  " + title).strip(), fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    hist = out_dir / "scores.png"
    fig.savefig(hist, dpi=110)
    plt.close(fig)
    return [roc, hist]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders (or metrics.jsonl files)")
    parser.add_argument("--out", default=None, help="PNG to write (default: <first run>/curves.png)")
    args = parser.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    out = Path(args.out) if args.out else (runs[0] if runs[0].is_dir() else runs[0].parent) / "curves.png"
    try:
        print(plot_runs(runs, out))
    except PlotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError:
        print("error: drawing needs matplotlib (pip install -r requirements.txt)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
