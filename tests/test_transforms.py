"""Document augmentations keep shape and range, really change the image, and preview writes a grid."""

import numpy as np
import pytest
import torch
from PIL import Image

from data.synthetic import SyntheticDocuments
from data.transforms import (
    RandomLighting,
    RandomLowResolution,
    RandomMotionBlur,
    RandomShadow,
    RandomTone,
    train_transform,
)


@pytest.fixture()
def page() -> torch.Tensor:
    image = SyntheticDocuments(1, 1, seed=5, long_side=96).load(0)[0].resize((96, 96))
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).float() / 255


@pytest.mark.parametrize("transform", [RandomLighting(1.0), RandomShadow(1.0), RandomMotionBlur(1.0), RandomTone(1.0)])
def test_float_transforms_change_the_page_and_keep_shape_and_range(transform, page):
    torch.manual_seed(0)
    out = transform(page)
    assert out.shape == page.shape and out.dtype == page.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out - page).abs().mean() > 0.01
    assert torch.equal(type(transform)(0.0)(page), page)  # p = 0: untouched


def test_low_resolution_blurs_detail(page):
    torch.manual_seed(0)
    uint8 = (page * 255).round().to(torch.uint8)
    out = RandomLowResolution(1.0, scale=(0.3, 0.3))(uint8)
    assert out.shape == uint8.shape and out.dtype == torch.uint8
    edges = lambda x: (x[:, :, 1:].float() - x[:, :, :-1].float()).abs().mean()  # noqa: E731
    assert edges(out) < edges(uint8)


@pytest.mark.parametrize("strength", ["light", "medium", "strong"])
def test_train_transform_outputs_normalised_tensors(strength):
    image = SyntheticDocuments(1, 1, seed=5, long_side=144).load(0)[0]
    t = train_transform(96, [0.5] * 3, [0.5] * 3, strength)
    torch.manual_seed(1)
    out = t(image)
    assert out.shape == (3, 96, 96) and out.dtype == torch.float32
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5


def test_preview_writes_a_grid(tmp_path):
    from data.preview import main

    out = tmp_path / "grid.png"
    main(["--cfg", "tiny_cpu", "--out", str(out), "--n", "16"])
    with Image.open(out) as grid:
        assert grid.size == (8 * 66 + 2, 2 * 66 + 2)
