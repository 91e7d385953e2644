"""Where a model goes wrong on the look-alike set: its top-1 errors by the relation of the two types.

    python bench/lookalike_errors.py --data held_out/lookalike --models assets/model.onnx exports/new.onnx

For every query of a registered template type whose best-scoring type is another one, the pair is
put in one of these groups, from the set's ``manifest.json``:

- ``rebrand`` / ``variant`` / ``fresh``: a sibling of the same family, the relation being the one of
  the two designs to the family's base that is not ``base`` (two non-base siblings: ``a+b``);
- ``same kind``: another family's design of the same kind (invoice against invoice);
- ``other kind``: another kind of template; ``page``: a PDF page.

Page queries are counted the same way (``page: same group`` when both are pages of one group, such
as two publishers' first pages). The table also gives each group's share of all template errors and
the median score margin by which the wrong type won, so a change of model shows which look-alikes it
learned to tell apart. Unregistered types' queries are left out here (``eval.py`` reports them).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval import load_eval_set, onnx_embedder, score_eval_set  # noqa: E402
from infer import InferError  # noqa: E402


def pair_group(true: dict, wrong: dict) -> str:
    """The group of a (true type, wrongly chosen type) pair, from their manifest entries."""
    if true["part"] == "pages":
        if wrong["part"] != "pages":
            return "page → template"
        return "page: same group" if wrong["group"] == true["group"] else "page: other group"
    if wrong["part"] == "pages":
        return "page"
    if wrong["group"] == true["group"]:
        relations = sorted({true["relation"], wrong["relation"]} - {"base"})
        return "+".join(relations)
    if wrong["design"]["kind"] == true["design"]["kind"]:
        return "same kind"
    return "other kind"


def error_groups(scores: np.ndarray, truth: np.ndarray, types: list[str], manifest: dict) -> dict:
    """{group: [margins]} over the queries of registered types whose top-1 is wrong, plus the
    number of queries per part (``"_queries"``)."""
    by_name = {e["name"]: e for e in manifest["types"]}
    groups: dict[str, list[float]] = collections.defaultdict(list)
    counts: collections.Counter = collections.Counter()
    for row, t in zip(scores, truth, strict=True):
        if t < 0:
            continue
        true = by_name[types[t]]
        counts[true["part"]] += 1
        best = int(np.argmax(row))
        if best != t:
            groups[pair_group(true, by_name[types[best]])].append(float(row[best] - row[t]))
    return {"_queries": dict(counts), **groups}


def format_groups(name: str, groups: dict) -> str:
    queries = groups["_queries"]
    lines = [f"{name}: {queries.get('templates', 0)} template queries, {queries.get('pages', 0)} page queries"]
    lines.append(f"  {'wrong top-1 is':<22}{'errors':>7}{'share':>7}{'median margin':>15}")
    template_errors = sum(len(v) for k, v in groups.items() if k != "_queries" and not k.startswith("page"))
    for key in sorted((k for k in groups if k != "_queries"), key=lambda k: (k.startswith("page"), -len(groups[k]))):
        v = groups[key]
        share = f"{len(v) / template_errors:.2f}" if template_errors and not key.startswith("page") else ""
        lines.append(f"  {key:<22}{len(v):>7}{share:>7}{np.median(v):>15.4f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a look-alike set (bench/lookalike_set.py) with manifest.json")
    parser.add_argument("--models", nargs="+", required=True, help="ONNX models")
    args = parser.parse_args(argv)
    data = Path(args.data)
    manifest_path = next((p for p in (data / "manifest.json", data.parent / "manifest.json") if p.is_file()), None)
    if manifest_path is None:
        print(f"error: {data}: no manifest.json (make the set with bench/lookalike_set.py)", file=sys.stderr)
        return 2
    manifest = json.loads(manifest_path.read_text())
    try:
        types = load_eval_set(data, print)[0]
        for model in args.models:
            scored = score_eval_set(onnx_embedder(model), data)
            print(format_groups(model, error_groups(scored.scores, scored.truth, types, manifest)))
    except InferError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
