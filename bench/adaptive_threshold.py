"""Would a threshold that adapts to the register separate known from unknown documents better than
one threshold for the best score? Issue 21's question, measured on one evaluation folder
(``register/`` + ``queries/<type>/``, as eval.py reads; one register example per type).

    python -m bench.lookalike_set --out held_out/lookalike_val_1k --pdf-root data_cache/pdfs/val \\
        --families 250 --pages 700 --unknown-share 0.15 --seed 314159
    python bench/adaptive_threshold.py --data held_out/lookalike_val_1k --sizes 100 1000

Registers of N types are drawn at random from the folder's types (``--draws`` of them); queries of
drawn types are known, all others unknown, as eval.py's register-size table does. Each rule turns a
query's scores against the register into one number, and is held at the threshold that lets
``--fpr`` of that draw's unknown queries through (an oracle threshold for every rule alike: this
compares how well the rules separate, not how they are calibrated). Printed per rule: the share of
right-ranked known queries accepted, overall and for the folder's PDF pages (types named ``page*``)
and templates apart. Rules, with s1 ≥ s2 ≥ … the query's scores against the register's types:

- ``best``: s1, what the decision policy thresholds today;
- ``best - b * mean(next k)``: s1 less b times the mean of the next k scores, the query's own
  neighbourhood in this register (a query that resembles many registered types needs more);
- ``best - b * cohort(k)``: the same with the query's k best scores against a fixed cohort of
  images instead of the register (``--cohort-from``: other folders whose images are embedded; drawn
  from the training side, e.g. ``python -m data.samples --eval-set DIR --types 500 --seed 777``, and
  the same with ``--pdf-root data_cache/pdfs/train``, so that the cohort says nothing of the
  evaluated documents' own generator).

Scores are the embedding's alone (no palette check). Measure on validation folders only.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval import load_eval_set  # noqa: E402
from infer import DocClassifier, InferError  # noqa: E402


def embed_folder(data: Path, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], np.ndarray]:
    """(query embeddings, register embeddings, query type index or -1, type names, query is a page)."""
    types, register, queries = load_eval_set(data, print)
    if len({t for t, _ in register}) != len(register):
        raise InferError(f"{data}: one register example per type expected")
    clf = DocClassifier(model, data / "register", cache=False, palette=False, warn=lambda m: None)
    order = np.argsort([t for t, _ in register])
    r = clf.embed([p for _, p in register])[order]  # row i: type i
    q = clf.embed([p for _, p in queries])
    truth = np.array([t for t, _ in queries])
    is_page = np.array([Path(str(p)).parent.name.startswith("page") for _, p in queries])
    return q, r, truth, types, is_page


def rules(scores: np.ndarray, cohort: np.ndarray | None) -> dict[str, np.ndarray]:
    """Each rule's number for every query, from its scores against one register (queries × types)."""
    ranked = -np.sort(-scores, axis=1)
    best = ranked[:, 0]
    out = {"best": best}
    for k in (1, 5, 20):
        for b in (0.25, 0.5, 1.0):
            if ranked.shape[1] > k:
                out[f"best - {b} * mean(next {k})"] = best - b * ranked[:, 1 : k + 1].mean(1)
            if cohort is not None:
                out[f"best - {b} * cohort({k})"] = best - b * cohort[:, :k].mean(1)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="assets/model.onnx")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--draws", type=int, default=40, help="registers drawn per size")
    parser.add_argument("--fpr", type=float, default=0.02, help="unknown queries let through")
    parser.add_argument(
        "--cohort-from", nargs="+", default=[], help="folders (register/ + queries/) whose images form a fixed cohort"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        q, r, truth, types, is_page = embed_folder(Path(args.data), args.model)
        cohort = None
        if args.cohort_from:
            images = [e for folder in args.cohort_from for e in embed_folder(Path(folder), args.model)[:2]]
            cohort = -np.sort(-(q @ np.concatenate(images).T), axis=1)
    except InferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scores = q @ r.T
    rng = np.random.default_rng(args.seed)
    print(f"{args.data}: {len(types)} types ({int(is_page.sum())} page queries, {int((~is_page).sum())} others)")
    for n in args.sizes:
        if n >= len(types):
            print(f"N={n}: the folder has only {len(types)} types; skipped")
            continue
        results: dict[str, list[tuple[float, float, float, float]]] = {}
        for _ in range(args.draws):
            drawn = rng.choice(len(types), size=n, replace=False)
            sub = scores[:, drawn]
            known = np.isin(truth, drawn)
            right = known & (drawn[sub.argmax(1)] == truth)
            for name, value in rules(sub, cohort).items():
                t = np.quantile(value[~known], 1 - args.fpr)
                accepted = value > t
                results.setdefault(name, []).append(
                    (
                        accepted[right].mean(),
                        accepted[right & is_page].mean() if (right & is_page).any() else np.nan,
                        accepted[right & ~is_page].mean() if (right & ~is_page).any() else np.nan,
                        1 - accepted[~known].mean(),
                    )
                )
        print(f"\nN={n}: right-ranked known queries accepted at {args.fpr:g} of unknown ones let through")
        print(f"  {'rule':32s} {'all':>6s} {'pages':>6s} {'others':>6s}  unknown rejected")
        ranked = sorted(results.items(), key=lambda kv: -np.nanmean([a for a, *_ in kv[1]]))
        for name, values in ranked:
            v = np.nanmean(np.array(values), axis=0)
            print(f"  {name:32s} {v[0]:6.3f} {v[1]:6.3f} {v[2]:6.3f}  {v[3]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
