"""Config loading, overrides, and rejection of bad keys and values."""

import re
import sys
from pathlib import Path

import pytest
import yaml

from configs import ConfigError, available_configs, load_config, parse_overrides


@pytest.mark.parametrize("name", ["lcnet050_cosface_96", "lcnet050_cosface_128", "lcnet100_cosface_128", "tiny_cpu"])
def test_shipped_configs_load_and_agree_with_their_names(name):
    cfg = load_config(name)
    assert cfg.name == name
    x = cfg.onnx
    assert set(x.dynamic_axes) == set(x.input_names) | set(x.output_names)
    assert x.input_shape[x.input_names[0]].shape[2:] == [cfg.data.image_size] * 2


def test_seed_config_values():
    cfg = load_config("lcnet050_cosface_96")
    assert (cfg.model.backbone, cfg.data.image_size, cfg.model.embed_dim) == ("lcnet_050", 96, 128)
    assert (cfg.model.head, cfg.model.scale, cfg.model.margin) == ("cosface", 64.0, 0.4)
    assert cfg.onnx.dynamic_axes == {"img": {0: "batch_size"}, "feats": {0: "batch_size"}}
    assert load_config("lcnet050_cosface_128").model.embed_dim == 256
    assert load_config("lcnet100_cosface_128").model.backbone == "lcnet_100"


def test_overrides_dotted_short_and_equals_forms():
    cfg = load_config(
        "tiny_cpu", ["--train.batch_size", "7", "--lr=1e-3", "--model.head", "arcface", "--channels-last", "true"]
    )
    assert cfg.train.batch_size == 7
    assert cfg.optim.lr == pytest.approx(1e-3)  # "1e-3" is a string to PyYAML; still a number here
    assert cfg.model.head == "arcface"
    assert cfg.train.channels_last is True
    cfg = load_config("tiny_cpu", ["--data.mean", "[0.5, 0.5, 0.5]"])
    assert cfg.data.mean == [0.5, 0.5, 0.5]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train.batch_sise", "8"], "train.batch_sise"),
        (["--batchsize", "8"], "batchsize"),
        (["--seed", "1"], "ambiguous"),
        (["--train.batch_size", "eight"], "train.batch_size: expected an integer"),
        (["--train.batch_size", "1.5"], "train.batch_size: expected an integer"),
        (["--train.compile", "maybe"], "train.compile: expected true/false"),
        (["--model.head", "circleloss"], "model.head: must be one of"),
        (["--train.batch_size", "0"], "train.batch_size: must be positive"),
        (["--model.backbone", "lcnet_060"], "model.backbone"),
        (["--data.image_size", "100"], "data.image_size"),
        (["--train.epochs"], "missing value"),
        (["--data.sources", "[{kind: pdf, root: d/pdfs, max_pages: -1}]"], "max_pages"),
        (["--data.sources", "[{kind: pdf, root: d/pdfs}]", "--val_pdf_root", "d/pdfs/val"], "overlaps"),
        (["stray"], "unexpected argument 'stray'"),
        (["--model.partial_fc", "true", "--model.sample_rate", "0"], "model.sample_rate: must be in"),
        (["--model.sample_rate", "0.1"], "set model.partial_fc true"),
        (["--train.ema_decay", "1"], "train.ema_decay: must be in"),
        (["--model.sibling_margin", "-0.1"], "model.sibling_margin: must be in"),
        (["--model.sibling_margin", "1"], "model.sibling_margin: must be in"),
        (["--model.sibling_margin", "0.1", "--model.partial_fc", "true"], "plain head only"),
        (["--data.tone_p", "1.5"], "data.tone_p: must be in"),
        (["--data.synthetic.family_size", "0"], "data.synthetic.family_size: must be positive"),
        (["--data.synthetic.fonts", "no/such/folder"], "data.synthetic.fonts: no/such/folder is neither"),
    ],
)
def test_bad_overrides_are_rejected_naming_the_key(args, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config("tiny_cpu", args)


def _write(tmp_path: Path, data: dict) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_unknown_key_in_yaml_is_rejected_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learning_rate'"):
        load_config(_write(tmp_path, {"train": {"learning_rate": 0.1}}))
    with pytest.raises(ConfigError, match=r"'optim.lrr' \(did you mean 'lr'\?\)"):
        load_config(_write(tmp_path, {"optim": {"lrr": 0.1}}))
    with pytest.raises(ConfigError, match=r"unknown config key 'trian'"):
        load_config(_write(tmp_path, {"trian": {}}))


def test_onnx_section_must_agree(tmp_path):
    base = yaml.safe_load(Path(load_config.__globals__["CONFIG_DIR"] / "lcnet050_cosface_96.yaml").read_text())
    # The original's bug: a dynamic_axes key that is not the output's name.
    bad = yaml.safe_load(yaml.safe_dump(base))
    bad["onnx"]["dynamic_axes"] = {"img": {"0": "batch_size"}, "output": {"0": "batch_size"}}
    with pytest.raises(ConfigError, match="onnx.dynamic_axes: 'output' is neither"):
        load_config(_write(tmp_path, bad))
    bad = yaml.safe_load(yaml.safe_dump(base))
    bad["onnx"]["input_shape"]["img"]["shape"] = [1, 3, 128, 128]
    with pytest.raises(ConfigError, match=r"onnx.input_shape.img.shape"):
        load_config(_write(tmp_path, bad))


def test_missing_config_lists_known_ones():
    with pytest.raises(ConfigError, match="tiny_cpu"):
        load_config("no_such_config")
    assert "tiny_cpu" in available_configs()


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("lcnet050_cosface_96", ["--train.batch_size", "64"])
    path = tmp_path / "resolved.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(str(path)) == cfg


def test_parse_overrides_types():
    assert parse_overrides(["--train.amp", "off", "--train.channels_last", "null"]) == {
        "train.amp": "off",
        "train.channels_last": None,
    }


def test_bare_off_in_yaml_means_the_choice_off(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  amp: off\n")  # YAML 1.1 reads this as false
    assert load_config(str(path)).train.amp == "off"


def test_tensorboard_without_its_package_is_a_config_error(monkeypatch):
    load_config("tiny_cpu", ["--train.tensorboard", "true"])  # installed with requirements-dev.txt
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not: import raises
    with pytest.raises(ConfigError, match=r"tiny_cpu.yaml: train.tensorboard: needs the tensorboard package"):
        load_config("tiny_cpu", ["--train.tensorboard", "true"])


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["--optim.lr", "nan"], "optim.lr"),
        (["--model.margin", "inf"], "model.margin"),
        (["--data.mean", "[0.5, -inf, 0.5]"], "data.mean.1"),
    ],
)
def test_non_finite_numbers_are_config_errors(args, key):
    with pytest.raises(ConfigError, match=rf"{re.escape(key)}: must be a finite number, got"):
        load_config("tiny_cpu", args)
