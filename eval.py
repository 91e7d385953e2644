"""Evaluate an exported model (or a checkpoint) on a folder of registered types and query photos.

    python eval.py --model assets/model.onnx --data DIR
    python eval.py --ckpt runs/<run>/last.pt --data DIR
    python eval.py --model assets/model.onnx --data DIR --plots runs/plots   # also roc.png, scores.png

DIR holds ``register/`` (as for infer.py: ``<type>.png`` or ``<type>/*``) and ``queries/<type>/*``;
a query folder whose type is not registered holds photos that should come out "unknown". Prints
top-1, ROC AUC, TPR at FPR 1e-5…1e-1 with thresholds, and open-set rejection; for a model with a
decision table (policy.py), the decisions at its policy for registers of 10, 100 and 1,000 types drawn
from the set's types (right answers accepted, unknown documents rejected, overall), as infer.py decides
for the set's register with its settings file (register/docclassifier.yaml); writes them as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from documents import Page
from engine.scores import (
    decisions_by_register_size,
    evaluate_scores,
    format_decisions,
    format_table,
    per_type_max,
    split_pairs,
    tpr_at_fpr,
)
from infer import (
    DocClassifier,
    HeaderCheck,
    InferError,
    PaletteCheck,
    collect_inputs,
    decode_size,
    expand_inputs,
    open_image,
    palette_signature,
    register_view,
    rerank_by,
    scan_register,
)
from policy import (
    CALIBRATIONS,
    DEFAULT_CALIBRATION,
    DEFAULT_FPR,
    SETTINGS_NAME,
    DecisionTable,
    PolicyError,
    RegisterSettings,
    declared_calibration,
    load_settings,
    registers_of,
    resolve_policy,
    self_calibrating,
    settings_fix_threshold,
    table_for,
)

REGISTER_SIZES = (10, 100, 1000)


class Embedder(NamedTuple):
    embed: Callable[[list], np.ndarray]  # PIL images → (N, D) unit embeddings
    threshold: float | None  # the one recorded with the model
    name: str
    input_size: int  # files are decoded as infer.py decodes them for this size
    tables: dict[str, DecisionTable] | None = None  # its table for each kind of register (policy.CALIBRATIONS)
    calibration: str = DEFAULT_CALIBRATION  # the kind of register it decides for

    @property
    def table(self) -> DecisionTable | None:
        """The model's decision policy for ``calibration``, if it records one."""
        return (self.tables or {}).get(self.calibration)

    def for_calibration(self, kind: str, where: str = "") -> Embedder:
        """The same model deciding with its table for registers of ``kind`` (``where``: who declared it)."""
        try:
            table_for(self.tables or {}, kind, where)
        except PolicyError as e:
            raise InferError(f"{self.name}: {e}") from None
        return self._replace(calibration=kind)


def load_eval_set(data: Path, warn) -> tuple[list[str], list[tuple[int, Path | Page]], list[tuple[int, Path | Page]]]:
    """(type names, register files with type index, query files with type index or -1); the pages of
    PDFs and multi-page TIFFs count one by one."""
    if not (data / "register").is_dir() or not (data / "queries").is_dir():
        raise InferError(f"{data}: expected register/ and queries/<type>/ inside")
    entries = scan_register(data / "register", warn)
    types = sorted({label for label, _ in entries})
    index = {t: i for i, t in enumerate(types)}
    register = [(index[label], item) for label, path in entries for item in expand_inputs([path], warn)]
    queries = [
        (index.get(folder.name, -1), item)
        for folder in sorted(p for p in (data / "queries").iterdir() if p.is_dir())
        for item in expand_inputs(collect_inputs([str(folder)]), warn)
    ]
    if not register or not queries:
        raise InferError(f"{data}: no register images or no query images")
    return types, register, queries


def type_scores(query: np.ndarray, register: np.ndarray, register_type: np.ndarray, num_types: int) -> np.ndarray:
    """(cos + 1) / 2 of each query with each type's best example: (queries × types)."""
    return (per_type_max(query @ register.T, register_type, num_types) + 1.0) / 2.0


def onnx_embedder(model: str) -> Embedder:
    clf = DocClassifier(model, register=None)
    m = clf.model
    return Embedder(clf.embed, m.threshold, Path(model).stem, m.preprocess.size, dict(m.tables))


def checkpoint_embedder(ckpt: str, raw: bool = False) -> Embedder:
    import torch  # a checkpoint needs the training stack; ONNX models do not

    from configs import config_from_dict
    from data import eval_transform
    from engine.checkpoint import CheckpointError, checkpoint_path, load_checkpoint, uses_average
    from engine.weights import embedding_model

    path = checkpoint_path(ckpt)
    try:
        state = load_checkpoint(path)
        cfg = config_from_dict(state["config"])
        model = embedding_model(state, path, cfg, raw)
    except CheckpointError as e:
        raise InferError(str(e)) from None
    transform = eval_transform(cfg.data.image_size, cfg.data.mean, cfg.data.std, cfg.data.letterbox)

    @torch.no_grad()
    def embed(images):
        return model(torch.stack([transform(im) for im in images])).numpy()

    name = f"{cfg.name}-step{state['step']}" + ("-ema" if uses_average(state, raw) else "")
    # A checkpoint carries no threshold: export_onnx.py calibrates one.
    return Embedder(embed, None, name, cfg.data.image_size)


class ScoredSet(NamedTuple):
    scores: np.ndarray  # (queries × types): (cos + 1) / 2 against each type's best example
    truth: np.ndarray  # each query's type index, -1 for a type that is not registered
    query_folder: np.ndarray  # each query's folder under queries/ (its type, registered or not)
    seconds_per_query: float  # decode + preprocess + embed + match
    types: tuple[str, ...] = ()  # the registered types, in the scores' column order
    own: np.ndarray | None = None  # (types × types): each type's view against each other type (self: -inf)


def score_eval_set(
    embedder: Embedder,
    data: Path,
    batch_size: int = 64,
    warn=print,
    palette: PaletteCheck | None = None,
    header: HeaderCheck | None = None,
    views: bool = False,
) -> ScoredSet:
    """Embed the register and the queries of ``data`` and score every query against every type; with
    ``header`` and ``palette``, close calls re-scored by the pages' tops, then by colour, as infer.py
    does. With ``views``, also each type's first example seen as a photo (``register_view``) against
    every other type, as infer.py's self-calibration scores them (``ScoredSet.own``)."""
    types, register, queries = load_eval_set(data, warn)
    min_size = decode_size(embedder.input_size)

    def embed_files(items):
        vectors, kept, seconds = [], [], 0.0
        for start in range(0, len(items), batch_size):
            chunk, images = [], []
            t0 = time.perf_counter()
            for t, path in items[start : start + batch_size]:
                try:
                    images.append(open_image(path, min_size))
                    chunk.append((t, (path.path if isinstance(path, Page) else path).parent.name, path))
                except InferError as e:
                    warn(f"{e}; skipped")
            if images:
                vectors.append(embedder.embed(images))
                kept.extend(chunk)
            seconds += time.perf_counter() - t0
        arrays = (np.array([t for t, _, _ in kept]), [f for _, f, _ in kept], [p for _, _, p in kept])
        return np.concatenate(vectors), *arrays, seconds

    reg_emb, reg_type, _, _, _ = embed_files(register)
    q_emb, truth, folders, read, q_seconds = embed_files(queries)  # read: the queries that could be
    t0 = time.perf_counter()
    scores = type_scores(q_emb, reg_emb, reg_type, len(types))
    if header is not None:
        apply_header(scores, read, register, header, embedder, warn)
    if palette is not None:
        apply_palette(scores, read, register, palette, warn)
    match_seconds = time.perf_counter() - t0
    own = None
    if views:
        first = {}
        for t, item in register:
            first.setdefault(t, item)
        pictures, kept = [], []
        for t, item in sorted(first.items()):
            try:
                pictures.append(register_view(open_image(item, min_size), types[t]))
                kept.append(t)
            except InferError as e:
                warn(f"{e}; no view of it for the self-calibration")
        view_emb = np.concatenate(
            [embedder.embed(pictures[i : i + batch_size]) for i in range(0, len(pictures), batch_size)]
        )
        rows = type_scores(view_emb, reg_emb, reg_type, len(types))
        if header is not None:
            apply_header(rows, pictures, register, header, embedder, warn)
        if palette is not None:
            apply_palette(rows, pictures, register, palette, warn)
        own = np.full((len(types), len(types)), -np.inf)
        own[kept] = rows
        np.fill_diagonal(own, -np.inf)
    seconds = (q_seconds + match_seconds) / len(truth)
    return ScoredSet(scores, truth, np.array(folders), seconds, tuple(types), own)


def read_type(register: list, t: int, read, warn, what: str) -> list:
    """What ``read`` makes of each register image of type ``t``; an image it cannot read is left out
    with a warning that it has no ``what``."""
    found = []
    for rt, path in register:
        if rt == t:
            try:
                found.append(read(path))
            except InferError as e:
                warn(f"{e}; no {what} for it")
    return found


def apply_header(
    scores: np.ndarray, queries: list, register: list, check: HeaderCheck, embedder: Embedder, warn
) -> int:
    """infer.py's header check on a (queries × types) score matrix, in place: each close call's best
    ``check.k`` types re-scored by their header strips' embeddings (``rerank_by``). Returns how many
    calls it ran on."""
    type_headers: dict[int, np.ndarray] = {}

    def strip(item):
        return check.strip_of(item, embedder.input_size)

    def headers_of(t: int) -> np.ndarray:
        if t not in type_headers:
            images = read_type(register, t, strip, warn, "header")
            type_headers[t] = embedder.embed(images) if images else np.zeros((0, 1), np.float32)
        return type_headers[t]

    ran = 0
    for row, item in zip(scores, queries, strict=True):
        order = np.argsort(-row, kind="stable")[: check.k]
        top = [(j, row[j]) for j in order]
        if not check.triggers(top):
            continue
        try:
            query = embedder.embed([strip(item)])[0]
        except InferError as e:
            warn(f"{e}; no header check for it")
            continue
        ran += 1
        sims = [max(((float(e @ query) + 1.0) / 2.0 for e in headers_of(int(j))), default=None) for j in order]
        for new, rank, _, _ in rerank_by(top, sims, check.weight):
            row[order[rank]] = new
    return ran


def apply_palette(scores: np.ndarray, queries: list, register: list, check: PaletteCheck, warn) -> int:
    """infer.py's palette check on a (queries × types) score matrix, in place: each close call's best
    ``check.k`` types re-scored by colour (``PaletteCheck.rerank``). Returns how many calls it ran on."""
    type_palettes: dict[int, list] = {}

    def palettes_of(t: int) -> list:
        if t not in type_palettes:
            type_palettes[t] = read_type(register, t, palette_signature, warn, "palette")
        return type_palettes[t]

    ran = 0
    for row, item in zip(scores, queries, strict=True):
        order = np.argsort(-row, kind="stable")[: check.k]
        if not check.triggers([(j, row[j]) for j in order]):
            continue
        query = palette_signature(item)
        if query[-1] < check.min_colour:
            continue
        ran += 1
        for new, rank, _, _ in check.rescore([(j, row[j]) for j in order], query, [palettes_of(int(j)) for j in order]):
            row[order[rank]] = new
    return ran


def run_eval(
    embedder: Embedder,
    data: Path,
    threshold: float | None,
    batch_size: int = 64,
    warn=print,
    fpr: float | None = None,
    sizes=REGISTER_SIZES,
    plots: Path | None = None,
    palette: PaletteCheck | None = None,
    header: HeaderCheck | None = None,
    settings: RegisterSettings | None = None,
    self_calibration: bool | None = None,
) -> tuple[dict, str]:
    """The evaluation's figures (JSON-ready) and its printed table; with ``plots``, the ROC curve and
    the score histograms are drawn there too (engine/plot.py, needs matplotlib). The decisions by
    register size are infer.py's for a register with ``settings`` (its docclassifier.yaml: a fixed
    threshold or margin, a false-accept target, per-type thresholds), at ``fpr`` when given, and, as
    infer.py does unless ``self_calibration`` is False (or the settings say so), each drawn register
    may relax the table's threshold by its own examples seen as photos (``policy.own_threshold``)."""
    settings = settings or RegisterSettings()
    # the views count only where the model's table sets the threshold, not where the settings file does
    views = (
        self_calibrating(self_calibration, settings)
        and embedder.table is not None
        and not settings_fix_threshold(settings, fpr)
    )
    scored = score_eval_set(embedder, data, batch_size, warn, palette, header, views=views)
    scores, truth = scored.scores, scored.truth
    provisional = threshold is None
    if provisional:  # no recorded threshold: use this evaluation's FPR=1e-3 point
        threshold = tpr_at_fpr(*split_pairs(scores, truth), targets=[1e-3])[0].threshold
    ev = evaluate_scores(scores, truth, threshold)
    result = ev.to_dict()
    result["threshold_source"] = "FPR 1e-3 on this set" if provisional else "model"
    result["ms_per_query"] = 1000 * scored.seconds_per_query
    result["palette"] = None if palette is None else dataclasses.asdict(palette)
    result["header"] = None if header is None else dataclasses.asdict(header)
    table = format_table(ev) + f"\n{result['ms_per_query']:.2f} ms per query (decode + preprocess + embed + match)"
    if embedder.table is not None or settings.threshold is not None:

        def policy(n: int, own: np.ndarray | None = None) -> tuple[float, float]:
            given = None if own is None else (lambda: own)
            r = resolve_policy(
                n, embedder.table, embedder.calibration, settings, fpr=fpr, own=given, self_calibration=self_calibration
            )
            return r.threshold, r.margin

        per_type = None
        if settings.types:
            per_type = np.array([settings.types.get(name, np.nan) for name in scored.types], np.float64)
            stray = sorted(set(settings.types) - set(scored.types))
            if stray:  # as infer.py says it when it loads such a register
                warn(f"{settings.path}: types.{stray[0]}: no such type in the register ({len(stray)} such)")
        own = scored.own  # None unless drawn for the self-calibration
        rows = decisions_by_register_size(scores, truth, policy, sizes, per_type=per_type, own=own)
        source = resolve_policy(1, embedder.table, embedder.calibration, settings, fpr=fpr)  # the same at any size
        used_fpr = source.fpr
        result["policy"] = {
            "fpr": used_fpr,
            "self_calibration": own is not None and used_fpr is not None,
            "calibration": source.calibration,
            "settings": settings.path or None,
            "sizes": [r.to_dict() for r in rows],
        }
        if used_fpr is None:
            rule = f"the threshold {settings.threshold:g} of {settings.path}"
        else:
            rule = f"the model's policy for {registers_of(embedder.calibration)} ({used_fpr:g} of unknown documents accepted"
            rule += (
                ", relaxed where the drawn register's own examples seen as photos allow)" if own is not None else ")"
            )
        if settings.types:
            rule += f" and the {len(settings.types)} per-type thresholds of {settings.path}"
        title = (
            f"decisions at {rule}, registers drawn from the set's {scores.shape[1]} types; known: the drawn types' "
            "queries, unknown: all others"
        )
        table += "\n" + format_decisions(rows, title)
        left_out = [n for n in sizes if n > scores.shape[1]]
        if left_out:
            table += f"\n(registers of {', '.join(map(str, left_out))} types need a set with as many)"
    else:
        table += "\n(no decision table in the model: export it with export_onnx.py for decisions by register size)"
    if plots is not None:
        from engine.plot import plot_evaluation

        title = f"{embedder.name} on {data.name}"
        drawn = plot_evaluation(*split_pairs(scores, truth), ev.points, threshold, plots, title)
        result["plots"] = [str(p) for p in drawn]
        table += "\nplots: " + ", ".join(map(str, drawn))
    return result, table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="exported ONNX model")
    source.add_argument("--ckpt", help="training checkpoint or run folder")
    parser.add_argument("--data", required=True, help="folder with register/ and queries/<type>/")
    parser.add_argument(
        "--raw-weights", action="store_true", help="with --ckpt: the trained weights, not their moving average"
    )
    parser.add_argument("--threshold", type=float, default=None, help="default: the model's")
    parser.add_argument(
        "--fpr",
        type=float,
        default=None,
        help=f"the policy's share of unknown documents accepted (default: the settings', else {DEFAULT_FPR:g})",
    )
    parser.add_argument(
        "--calibration",
        choices=tuple(CALIBRATIONS),
        default=None,
        help="the model's table for registers of this kind, as a register's docclassifier.yaml declares it: forms, "
        "pages, or any (default: the settings', else any: the stricter of the two)",
    )
    parser.add_argument(
        "--settings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"decide as the set's register/{SETTINGS_NAME} says, as infer.py would (default: on, when there is one)",
    )
    parser.add_argument(
        "--self-calibration",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let each drawn register relax the model's table by its own examples seen as photos, as infer.py does "
        "(default: on, unless the settings say self_calibration: false)",
    )
    parser.add_argument("--out", default=None, help="JSON results (default: runs/eval/<data>-<model>.json)")
    parser.add_argument("--plots", default=None, help="also draw roc.png and scores.png into this folder")
    parser.add_argument(
        "--palette",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-score close calls by colour as infer.py does (default: on; --no-palette: the embedding alone)",
    )
    parser.add_argument(
        "--header-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="re-score close calls by the tops of the pages as infer.py does (default: on)",
    )
    args = parser.parse_args(argv)
    if args.raw_weights and not args.ckpt:
        parser.error("--raw-weights chooses a checkpoint's weights: use it with --ckpt")
    try:
        embedder = onnx_embedder(args.model) if args.model else checkpoint_embedder(args.ckpt, args.raw_weights)
        name, data = embedder.name, Path(args.data)
        settings_file = data / "register" / SETTINGS_NAME
        settings = load_settings(settings_file) if args.settings and settings_file.is_file() else RegisterSettings()
        embedder = embedder.for_calibration(*declared_calibration(args.calibration, settings))
        threshold = args.threshold if args.threshold is not None else embedder.threshold
        plots = Path(args.plots) if args.plots else None
        warn = lambda m: print(f"warning: {m}", file=sys.stderr)  # noqa: E731
        palette = PaletteCheck() if args.palette else None
        header = HeaderCheck() if args.header_check else None
        result, table = run_eval(
            embedder,
            data,
            threshold,
            warn=warn,
            fpr=args.fpr,
            plots=plots,
            palette=palette,
            header=header,
            settings=settings,
            self_calibration=args.self_calibration,
        )
    except (InferError, FileNotFoundError, PolicyError) as e:
        print(f"eval.py: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / "eval" / f"{data.resolve().name}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result.update(model=args.model or args.ckpt, data=str(data))
    out.write_text(json.dumps(result, indent=2))
    checks = [name for name, on in (("header check", args.header_check), ("palette check", args.palette)) if on]
    check = " and ".join(checks) + " on (infer.py's default)" if checks else "the embedding alone"
    print(f"{name} on {data}, {check}\n{table}\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
