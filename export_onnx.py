"""Export the feature branch (backbone → neck → L2 norm) of a trained checkpoint to ONNX.

    python export_onnx.py --cfg lcnet050_cosface_96                      # newest runs/lcnet050_cosface_96-*/last.pt
    python export_onnx.py --ckpt runs/tiny_cpu-.../last.pt --out m.onnx   # config taken from the checkpoint
    python export_onnx.py --recalibrate m.onnx --policy-pdf-root data_cache/pdfs/val   # its decision table afresh

The margin head and every training-only part stay behind. The file is checked (onnx.checker, a
really dynamic batch axis, onnxruntime-vs-PyTorch parity on random and real inputs at batch 1 and
8) before it is moved into place, and it carries the preprocessing infer.py needs as metadata.
"""

import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import onnx
import onnxruntime as ort
import torch
from argparse_dataclass import ArgumentParser
from torch.utils.flop_counter import FlopCounterMode

from configs import Config, ConfigError, available_configs, config_from_dict, load_config, parse_overrides
from data import SyntheticDocuments, eval_transform
from engine.checkpoint import (
    CheckpointError,
    atomic_write,
    checkpoint_path,
    load_checkpoint,
    uses_average,
)
from engine.scores import split_pairs, threshold_at_fpr
from engine.verification import VerificationSet
from engine.weights import embedding_model
from models import EmbeddingModel
from policy import DEFAULT_CALIBRATION, DEFAULT_FPR, DecisionTable, registers_of, strictest, tables_to_json
from policy import calibrate as calibrate_table

PARITY_TOLERANCE = 1e-4
# Keys that change the exported graph or its preprocessing: checkpoint and config must agree on them.
MUST_AGREE = ("model", "data.image_size", "data.channel_order", "data.mean", "data.std", "data.letterbox")


class ExportError(RuntimeError):
    """Export cannot go on (message names the file and the problem)."""


@dataclass
class ExportArgs:  # argparse-dataclass reads real annotations: no `from __future__ import annotations`
    cfg: Optional[str] = field(default=None, metadata={"help": "config name or YAML path (default: the checkpoint's)"})
    ckpt: Optional[str] = field(
        default=None, metadata={"help": "checkpoint or run folder (default: newest run of --cfg)"}
    )
    out: Optional[str] = field(default=None, metadata={"help": "output file (default: <onnx.export_dir>/<name>.onnx)"})
    threshold: Optional[float] = field(
        default=None, metadata={"help": "match threshold to record (score = (cos+1)/2); default: calibrated"}
    )
    raw_weights: bool = field(
        default=False,
        metadata={"help": "export the trained weights, not their moving average (runs with train.ema_decay)"},
    )
    calibration_types: int = field(
        default=100, metadata={"help": "held-out synthetic types to calibrate the threshold on (0: none)"}
    )
    policy_types: int = field(
        default=1200,
        metadata={
            "help": "held-out types of each kind the decision table (thresholds by register size) is calibrated on "
            "(0: none); register sizes up to one less are calibrated, larger ones extrapolated"
        },
    )
    recalibrate: Optional[str] = field(
        default=None,
        metadata={
            "help": "an exported model: calibrate its decision table afresh (onnxruntime, no checkpoint) and write "
            "it back, or to --out"
        },
    )
    policy_pdf_root: str = field(
        default="",
        metadata={"help": "PDFs training never read (e.g. data_cache/pdfs/val): their pages calibrate the table too"},
    )


def newest_checkpoint(cfg: Config) -> Path:
    runs = sorted(Path(cfg.train.output_dir).glob(f"{cfg.name}-*/last.pt"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise ExportError(
            f"no checkpoint found under {cfg.train.output_dir}/{cfg.name}-*/; train first "
            f"(python train.py --cfg {cfg.name}) or give --ckpt"
        )
    return runs[-1]


def _flatten(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        out.update(_flatten(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def check_agreement(cfg: Config, ckpt_cfg: Config, ckpt_path: Path) -> None:
    ours, theirs = _flatten(cfg.to_dict()), _flatten(ckpt_cfg.to_dict())
    diffs = [
        f"{k}={theirs[k]!r} (config: {ours[k]!r})"
        for k in sorted(ours)
        if any(k == p or k.startswith(p + ".") for p in MUST_AGREE)
        and k not in ("model.init", "model.init_neck")
        and ours[k] != theirs.get(k)
    ]
    if diffs:
        raise ExportError(
            f"{ckpt_path}: checkpoint does not match config '{cfg.name}': trained with " + "; ".join(diffs)
        )


def load_embedding_model(ckpt: dict, ckpt_path: Path, cfg: Config, raw: bool = False) -> EmbeddingModel:
    check_agreement(cfg, config_from_dict(ckpt["config"]), ckpt_path)
    return embedding_model(ckpt, ckpt_path, cfg, raw)


def count_flops(model: torch.nn.Module, image_size: int) -> int:
    """Multiply-adds × 2 of one image's forward pass."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, image_size, image_size))
    return int(counter.get_total_flops())


def export(model: EmbeddingModel, cfg: Config, path: Path) -> None:
    x = cfg.onnx
    name = x.input_names[0]
    batch = max(2, x.input_shape[name].shape[0])  # a batch of 1 could be specialised into the graph
    dummy = torch.randn(batch, *x.input_shape[name].shape[1:])
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # exporter chatter; the checks below are what count
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=x.input_names,
            output_names=x.output_names,
            dynamic_axes={k: dict(v) for k, v in x.dynamic_axes.items()},
            opset_version=x.options.opset_version,
            # The dynamo exporter folds constants in its graph optimiser: `optimize` is its switch.
            optimize=x.options.do_constant_folding,
            verbose=x.options.verbose,
            external_data=False,
            dynamo=True,
        )


def check_dynamic_batch(proto: onnx.ModelProto, cfg: Config) -> None:
    for value in [*proto.graph.input, *proto.graph.output]:
        axes = cfg.onnx.dynamic_axes.get(value.name, {})
        dims = value.type.tensor_type.shape.dim
        for axis in axes:
            if not dims[axis].dim_param or dims[axis].dim_value:
                raise ExportError(
                    f"'{value.name}' axis {axis} is fixed to {dims[axis].dim_value} in the exported graph"
                )


def real_inputs(cfg: Config, n: int = 8) -> torch.Tensor:
    """Document images (synthetic templates outside training's seed), preprocessed as for evaluation."""
    transform = eval_transform(cfg.data.image_size, cfg.data.mean, cfg.data.std, cfg.data.letterbox)
    docs = SyntheticDocuments(n, 1, seed=cfg.data.synthetic.seed + 7919, long_side=cfg.data.image_size * 2)
    return torch.stack([transform(docs.load(i)[0]) for i in range(n)])


def parity(model: EmbeddingModel, path: Path, cfg: Config) -> dict[str, float]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    size = cfg.data.image_size
    generator = torch.Generator().manual_seed(0)
    random = torch.randn(8, 3, size, size, generator=generator)
    real = real_inputs(cfg)
    diffs = {}
    for kind, images in (("random", random), ("real", real)):
        for batch in (1, 8):
            x = images[:batch]
            with torch.no_grad():
                expected = model(x).numpy()
            (got,) = session.run(None, {cfg.onnx.input_names[0]: x.numpy()})
            diffs[f"{kind} batch {batch}"] = float(np.abs(got - expected).max())
    return diffs


def embedder(model: EmbeddingModel, cfg: Config, batch: int = 256):
    """PIL images → unit embeddings (N, D) as evaluation preprocesses them, ``batch`` at a time."""
    transform = eval_transform(cfg.data.image_size, cfg.data.mean, cfg.data.std, cfg.data.letterbox)

    def embed(images):
        out = []
        with torch.no_grad():
            for start in range(0, len(images), batch):
                out.append(model(torch.stack([transform(im) for im in images[start : start + batch]])).numpy())
        return np.concatenate(out)

    return embed


def calibrate(model: EmbeddingModel, cfg: Config, num_types: int, fpr: float = 1e-2) -> dict[str, str]:
    """Threshold at ``fpr`` on photos of held-out synthetic templates (an optimistic stand-in until a
    real evaluation set gives one), with the TPR and top-1 accuracy measured there."""
    validation = VerificationSet(num_types)
    scores = validation.scores(embedder(model, cfg))
    truth = validation.truth
    genuine, impostor = split_pairs(scores, truth)
    threshold = threshold_at_fpr(impostor, fpr)
    return {
        "threshold": repr(threshold),
        "threshold_fpr": repr(fpr),
        "threshold_tpr": f"{float((genuine > threshold).mean()):.4f}",
        "calibration_top1": f"{float((scores.argmax(1) == truth).mean()):.4f}",
        "calibration_data": f"photos of {num_types} held-out synthetic templates vs their clean examples",
    }


def decision_tables(embed, num_types: int, pdf_root: str = "") -> dict[str, DecisionTable]:
    """Thresholds by register size and false-accept target, and margins (policy.py), for each kind
    of register (policy.CALIBRATIONS): "forms" from photos of held-out synthetic templates (families
    of look-alikes) against their clean examples, with ``pdf_root`` "pages" from photos of held-out
    PDF pages against their clean renders, each a pool of ``num_types`` types; and "any", the
    stricter of the two at every point, which holds for a register of either kind.
    ``embed``: PIL images → unit embeddings (N, D)."""
    pools = [("forms", "synthetic templates", lambda: VerificationSet(num_types, photos_per_type=1))]
    if pdf_root:
        pools.append(
            ("pages", "PDF pages", lambda: VerificationSet.from_pdf_pages(pdf_root, num_types, photos_per_type=1))
        )
    tables, described = {}, []
    for kind, name, make in pools:
        validation = make()
        scores = validation.scores(embed)
        truth = validation.truth
        genuine = scores[np.arange(len(truth)), truth]
        impostors = [np.delete(row, t) for row, t in zip(scores, truth, strict=True)]
        described.append(f"{validation.num_types} held-out {name}")
        tables[kind] = calibrate_table(genuine, impostors, data="photos vs clean examples of " + described[-1])
    data = "photos vs clean examples of " + " and ".join(described)
    return {DEFAULT_CALIBRATION: strictest(list(tables.values()), data=data), **tables}


def table_metadata(tables: dict[str, DecisionTable]) -> dict[str, str]:
    """The metadata entries infer.py reads: ``decision_table`` the one for any register (what older
    readers use), ``decision_tables`` the one for each kind."""
    kinds = {kind: t for kind, t in tables.items() if kind != DEFAULT_CALIBRATION}
    return {"decision_table": tables[DEFAULT_CALIBRATION].to_json(), "decision_tables": tables_to_json(kinds)}


def metadata(cfg: Config, model: EmbeddingModel, ckpt: dict, raw: bool = False) -> dict[str, str]:
    """What infer.py needs to preprocess exactly as training did, and what a person wants to know."""
    meta = {
        "docclassifier.format": "1",
        "input_name": cfg.onnx.input_names[0],
        "output_name": cfg.onnx.output_names[0],
        "input_size": str(cfg.data.image_size),  # square: the image is resized to size × size
        "resize": "bilinear",  # PIL's Image.BILINEAR, as torchvision's Resize on PIL images
        "letterbox": "1" if cfg.data.letterbox else "0",  # padded to a square of the border's colour first
        "channel_order": cfg.data.channel_order,
        "layout": "NCHW",
        "scale": "1/255",  # then (x - mean) / std per channel
        "mean": json.dumps(cfg.data.mean),
        "std": json.dumps(cfg.data.std),
        "embed_dim": str(cfg.model.embed_dim),
        "score": "(cos+1)/2",
        "config": cfg.name,
        "config_yaml": cfg.to_yaml(),
        "backbone": cfg.model.backbone,
        "num_params": str(sum(p.numel() for p in model.parameters())),
        "flops": str(count_flops(model, cfg.data.image_size)),
        "train_step": str(ckpt.get("step", "")),
        "weights": "ema" if uses_average(ckpt, raw) else "trained",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return meta


def describe_tables(tables: dict[str, DecisionTable]) -> None:
    for kind, table in tables.items():
        shown = [n for n in (10, 100, 1000) if n <= 10 * table.sizes[-1]]
        print(
            f"decision table for {registers_of(kind)} ({table.data}): at {DEFAULT_FPR:g} of unknown documents accepted, "
            "threshold "
            + ", ".join(f"{table.threshold(n, DEFAULT_FPR):.4f} for {n} types" for n in shown)
            + f"; margin {table.margin(100):.4f} at 100 types"
        )


def recalibrate(model_path: Path, out: Path, num_types: int, pdf_root: str = "") -> dict[str, DecisionTable]:
    """Calibrate an exported model's decision tables afresh (as the export does, embedding with
    onnxruntime, so no checkpoint is needed) and write the model with them to ``out``; the graph and
    every other metadata entry stay as they were."""
    from infer import DocClassifier, InferError

    try:
        model = DocClassifier(model_path, register=None)
    except InferError as e:
        raise ExportError(str(e)) from None
    tables = decision_tables(model.embed, num_types, pdf_root)
    proto = onnx.load(str(model_path))
    for key, value in table_metadata(tables).items():
        entry = next((p for p in proto.metadata_props if p.key == key), None)
        if entry is None:
            entry = proto.metadata_props.add(key=key)
        entry.value = value
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:
        onnx.save(proto, str(tmp))
    return tables


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 exported, 2 a bad config, checkpoint or export (one line on stderr)."""
    try:
        return run(argv)
    except (ConfigError, CheckpointError, ExportError) as e:
        print(f"export_onnx.py: error: {e}", file=sys.stderr)
        return 2


def run(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(
        ExportArgs,
        description="Export the embedding branch of a checkpoint to ONNX.",
        epilog=f"configs: {', '.join(available_configs())}. Config keys can be overridden as with train.py.",
    )
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.recalibrate:
        if rest or args.ckpt or args.cfg or args.threshold is not None or args.policy_types <= 0:
            raise ExportError("--recalibrate takes only --out, --policy-types (above 0) and --policy-pdf-root")
        source = Path(args.recalibrate)
        out = Path(args.out) if args.out else source
        describe_tables(recalibrate(source, out, args.policy_types, args.policy_pdf_root))
        print(f"wrote {out} with the decision tables calibrated afresh")
        return 0
    overrides = parse_overrides(rest)
    ckpt_path = checkpoint_path(args.ckpt) if args.ckpt else None
    ckpt = load_checkpoint(ckpt_path) if ckpt_path is not None else None
    if args.cfg:
        cfg = load_config(args.cfg, overrides)
    elif ckpt is not None:
        cfg = config_from_dict(ckpt["config"], overrides)
    else:
        raise ConfigError(f"give --cfg NAME_OR_PATH (configs: {', '.join(available_configs())}) and/or --ckpt")
    if ckpt_path is None:
        ckpt_path = newest_checkpoint(cfg)
        ckpt = load_checkpoint(ckpt_path)
    out = Path(args.out) if args.out else Path(cfg.onnx.export_dir) / f"{cfg.name}.onnx"

    torch.manual_seed(0)
    model = load_embedding_model(ckpt, ckpt_path, cfg, args.raw_weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as tmp:  # only a file that passed every check lands at `out`
        export(model, cfg, tmp)
        proto = onnx.load(str(tmp))
        onnx.checker.check_model(proto, full_check=True)
        check_dynamic_batch(proto, cfg)
        meta = metadata(cfg, model, ckpt, args.raw_weights)
        if args.threshold is not None:
            meta["threshold"] = repr(float(args.threshold))
        elif args.calibration_types > 0:
            meta.update(calibrate(model, cfg, args.calibration_types))
            print(
                f"threshold {float(meta['threshold']):.4f} at FPR {meta['threshold_fpr']} "
                f"(TPR {meta['threshold_tpr']}, top-1 {meta['calibration_top1']}, {meta['calibration_data']})"
            )
        if args.threshold is None and args.policy_types > 0:  # a threshold given is the one to use
            tables = decision_tables(embedder(model, cfg), args.policy_types, args.policy_pdf_root)
            meta.update(table_metadata(tables))
            describe_tables(tables)
        for key, value in meta.items():
            proto.metadata_props.add(key=key, value=value)
        proto.producer_name = "docclassifier"
        onnx.save(proto, str(tmp))
        diffs = parity(model, tmp, cfg)
        for kind, diff in diffs.items():
            print(f"parity {kind:16s} max |onnxruntime - torch| = {diff:.2e}")
        worst = max(diffs.values())
        if worst > PARITY_TOLERANCE:
            raise ExportError(f"{out}: onnxruntime differs from PyTorch by {worst:.2e} (> {PARITY_TOLERANCE:.0e})")
    size_mb = out.stat().st_size / 2**20
    print(
        f"exported {out} ({size_mb:.1f} MB) from {ckpt_path} (step {ckpt.get('step')}, "
        f"{'moving-average' if meta['weights'] == 'ema' else 'trained'} weights), config {cfg.name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
