"""Document augmentations keep shape and range, really change the image, are a pure function of the
seed, and preview writes a grid."""

import math

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from data.synthetic import SyntheticDocuments
from data.transforms import (
    STRENGTHS,
    DocumentAugment,
    RandomColour,
    RandomGaussianBlur,
    RandomJPEG,
    RandomLighting,
    RandomLowResolution,
    RandomMotionBlur,
    RandomNoise,
    RandomShadow,
    RandomWarpCrop,
    homography,
    train_transform,
)


@pytest.fixture()
def page_uint8() -> np.ndarray:
    return np.array(SyntheticDocuments(1, 1, seed=5, long_side=96).load(0)[0].resize((96, 96)))


@pytest.fixture()
def page(page_uint8) -> torch.Tensor:
    return torch.from_numpy(page_uint8).permute(2, 0, 1).contiguous().float() / 255


def edges(x: np.ndarray) -> float:
    return float(np.abs(np.diff(x.astype(np.float32), axis=1)).mean())


@pytest.mark.parametrize(
    ("transform", "blurs"),
    [(RandomLowResolution(1.0), True), (RandomGaussianBlur(1.0, sigma=(1.0, 1.5)), True), (RandomJPEG(1.0), False)],
)
def test_degradations_change_the_page(transform, blurs, page_uint8):
    torch.manual_seed(0)
    out = transform(page_uint8)
    assert out.shape == page_uint8.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - page_uint8).mean() > 1
    assert (edges(out) < edges(page_uint8)) == blurs  # JPEG adds block edges instead
    assert type(transform)(0.0)(page_uint8) is page_uint8  # p = 0: untouched


def test_motion_blur_smears_along_its_angle(page_uint8):
    horizontal = RandomMotionBlur.kernel(7, 0.0)
    assert horizontal.sum() == pytest.approx(1.0) and np.count_nonzero(horizontal) == 7
    assert np.count_nonzero(horizontal[3]) == 7  # one row: a horizontal smear
    torch.manual_seed(0)
    out = RandomMotionBlur(1.0, lengths=(7, 7))(page_uint8)
    assert out.shape == page_uint8.shape and edges(out) < edges(page_uint8)


def test_colour_matrix_inverts_greys_and_jitters():
    torch.manual_seed(0)
    white = np.full((4, 4, 3), 255, np.uint8)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    seen = set()
    for _ in range(60):  # tone only (no jitter): every draw is grey, sepia or inverted
        out = RandomColour(0.0, p_tone=1.0)(red)
        if np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2]):
            seen.add("grey")
            assert out[0, 0, 0] == round(0.299 * 200)
        elif out[0, 0, 0] == 55:
            seen.add("inverted")
            assert tuple(out[0, 0]) == (55, 255, 255)
        else:
            seen.add("sepia")
            assert tuple(out[0, 0]) == tuple(np.clip(np.round(np.array([0.393, 0.349, 0.272]) * 200), 0, 255))
    assert seen == {"grey", "inverted", "sepia"}
    assert RandomColour(0.0, p_tone=0.0)(white) is white
    jittered = [RandomColour(0.3, p_tone=0.0)(red)[0, 0] for _ in range(20)]
    assert len({tuple(v) for v in jittered}) > 10  # brightness / contrast / saturation vary


def test_colour_cast_tints_the_light_but_keeps_the_hue():
    torch.manual_seed(0)
    teal = np.zeros((2, 2, 3), np.uint8)
    teal[...] = (20, 110, 170)  # channel ratios beyond what two gains of 1 ± 0.12 can swap
    grey = np.full((2, 2, 3), 128, np.uint8)
    cast = RandomColour(0.0, p_tone=0.0, cast=0.12)
    tints = []
    for _ in range(40):
        seed = torch.randint(0, 2**31, ()).item()
        torch.manual_seed(seed)
        out_grey = cast(grey)[0, 0].astype(float)
        torch.manual_seed(seed)  # the same gains on a teal page
        out_teal = cast(teal)[0, 0].astype(float)
        gains = out_grey / 128
        assert np.all(np.abs(gains - 1) <= 0.12 + 1 / 128)  # each channel within its range (rounding)
        np.testing.assert_allclose(out_teal, np.round(teal[0, 0] * gains), atol=1)  # one gain per channel
        assert out_teal[2] > out_teal[1] > out_teal[0]  # teal stays teal
        tints.append(tuple(out_grey))
    assert len(set(tints)) > 30  # a grey page takes many tints


def test_homography_maps_the_four_points():
    src = np.array([[0, 0], [10, 0], [10, 8], [0, 8]], dtype=np.float64)
    dst = np.array([[1, 2], [9, 1], [11, 9], [-1, 7]], dtype=np.float64)
    m = homography(src, dst)
    mapped = np.c_[src, np.ones(4)] @ m.T
    np.testing.assert_allclose(mapped[:, :2] / mapped[:, 2:], dst, atol=1e-4)


def test_warp_crop_without_distortion_is_the_plain_resize(page_uint8):
    whole = RandomWarpCrop(48, perspective=0.0, rotation=0.0, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    out = whole(page_uint8)
    assert np.array_equal(out, cv2.resize(page_uint8, (48, 48), interpolation=cv2.INTER_AREA))


def test_warp_crop_rotates_about_the_centre():
    img = np.zeros((41, 41, 3), np.uint8)
    img[20, 30] = 255  # a dot right of the centre
    torch.manual_seed(0)
    warp = RandomWarpCrop(41, perspective=0.0, rotation=90.0, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    spots = set()
    for _ in range(5):
        out = warp(img)
        y, x = np.unravel_index(out[..., 0].argmax(), out.shape[:2])
        assert math.hypot(x - 20, y - 20) == pytest.approx(10, abs=1.5)  # stays on its circle around the centre
        spots.add((x, y))
    assert len(spots) > 1  # ... but moves along it


@pytest.mark.parametrize("transform", [RandomLighting(1.0), RandomShadow(1.0), RandomNoise(1.0)])
def test_float_transforms_change_the_page_and_keep_shape_and_range(transform, page):
    torch.manual_seed(0)
    out = transform(page)
    assert out.shape == page.shape and out.dtype == page.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert (out - page).abs().mean() > 0.01
    assert torch.equal(type(transform)(0.0)(page), page)  # p = 0: untouched


@pytest.mark.parametrize("strength", ["light", "medium", "strong"])
def test_train_transform_outputs_normalised_tensors(strength):
    image = SyntheticDocuments(1, 1, seed=5, long_side=144).load(0)[0]
    t = train_transform(96, [0.5] * 3, [0.5] * 3, strength)
    torch.manual_seed(1)
    out = t(image)
    assert out.shape == (3, 96, 96) and out.dtype == torch.float32 and out.is_contiguous()
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5


def test_augment_is_a_pure_function_of_the_seed():
    image = SyntheticDocuments(1, 1, seed=5, long_side=144).load(0)[0].convert("L")  # any mode works
    t = DocumentAugment(64, [0.5] * 3, [0.5] * 3, STRENGTHS["strong"])
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        runs.append(t(image))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_preview_writes_a_grid(tmp_path):
    from data.preview import main

    out = tmp_path / "grid.png"
    main(["--cfg", "tiny_cpu", "--out", str(out), "--n", "16"])
    with Image.open(out) as grid:
        assert grid.size == (8 * 66 + 2, 2 * 66 + 2)


def test_tone_p_sets_the_chance_of_grey_sepia_or_inverted_tones():
    """tone_p 0: every augmented image keeps its colours' order; tone_p 1: every one is toned."""

    def colour_stage(tone_p):
        t = train_transform(64, [0.5] * 3, [0.5] * 3, "medium", tone_p=tone_p)
        return next(s for s in t.uint8_stages if isinstance(s, RandomColour))

    assert colour_stage(None).p_tone == STRENGTHS["medium"].p_tone
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200  # jitter keeps it red; grey, sepia and inversion bring green up to red or past it
    for tone_p, toned in ((0.0, 0), (1.0, 40)):
        stage = colour_stage(tone_p)
        torch.manual_seed(0)
        outs = [stage(red).astype(float) for _ in range(40)]
        assert sum(int(out[..., 1].mean() > 0.8 * out[..., 0].mean()) for out in outs) == toned, tone_p


@pytest.fixture(scope="module")
def big_photo() -> np.ndarray:
    """A page-sized phone photo of a document (1,300 px tall)."""
    page = SyntheticDocuments(1, 1, seed=8, long_side=1300).load(0)[0]
    from data.photo import photo_of

    return np.asarray(photo_of(page, seed=3))


def _sharpness(img: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


@pytest.mark.parametrize("size", [96, 128])
def test_warp_from_a_shrunk_page_matches_the_full_resolution_warp(big_photo, size, monkeypatch):
    """The same draws on a full-size photo: warped from an area-shrunk page, or (as before) at the
    crop's resolution: the same picture to a couple of grey levels, as sharp to within 10 %."""
    import data.transforms as transforms

    warp = RandomWarpCrop(size, perspective=0.15, rotation=5, scale=(0.8, 1.0))
    fast, full = [], []
    for seed in range(12):
        torch.manual_seed(seed)
        fast.append(warp(big_photo))
        with monkeypatch.context() as m:
            m.setattr(transforms, "PRESHRINK_GAP", 1 << 30)  # never shrink first
            torch.manual_seed(seed)
            full.append(warp(big_photo))
    assert all(a.shape == b.shape == (size, size, 3) and a.dtype == np.uint8 for a, b in zip(fast, full, strict=True))
    diff = np.mean([np.abs(a.astype(np.float64) - b).mean() for a, b in zip(fast, full, strict=True)])
    assert diff < 4.0  # grey levels of 255, mean over pixels and draws
    sharp_fast, sharp_full = np.mean([_sharpness(a) for a in fast]), np.mean([_sharpness(b) for b in full])
    assert 0.9 * sharp_full < sharp_fast <= 1.02 * sharp_full


def test_reduced_jpeg_decoding_keeps_what_training_sees(big_photo, tmp_path):
    from configs import load_config
    from data import ImageFolderSource, decode_side, load_rgb

    Image.fromarray(big_photo).save(tmp_path / "photo.jpg", quality=90)
    full, reduced = load_rgb(tmp_path / "photo.jpg"), load_rgb(tmp_path / "photo.jpg", 256)
    assert min(reduced.size) >= 256 and reduced.size[0] < full.size[0]  # DCT-scaled: a half or less
    cfg = load_config("lcnet050_cosface_96", [])
    assert decode_side(cfg.data) == 2 * cfg.data.image_size
    source = ImageFolderSource(tmp_path, class_per_image=True, min_side=decode_side(cfg.data))
    assert source.load(0)[0].size == load_rgb(tmp_path / "photo.jpg", 192).size
    augment = train_transform(96, cfg.data.mean, cfg.data.std, "medium")
    outs = {}
    for name, image in (("full", full), ("reduced", reduced)):
        torch.manual_seed(0)
        outs[name] = torch.stack([augment(image) for _ in range(16)])
    assert outs["full"].shape == outs["reduced"].shape == (16, 3, 96, 96)
    # The same draws on either decode: the same range and, image by image, nearly the same pixels.
    assert abs(outs["full"].mean() - outs["reduced"].mean()) < 0.02
    assert abs(outs["full"].std() - outs["reduced"].std()) < 0.03
    assert (outs["full"] - outs["reduced"]).abs().mean() < 0.08  # normalised units (std 0.22 ≈ 56 grey levels)


def test_load_rgb_turns_a_phone_photo_upright_and_gives_rgb(tmp_path):
    from data import load_rgb

    wide = np.zeros((300, 600, 3), np.uint8)
    wide[:, :100] = 255  # a white band on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera held turned: rotate 90° clockwise to view
    Image.fromarray(wide).save(tmp_path / "turned.jpg", exif=exif, quality=95)
    Image.fromarray(wide).save(tmp_path / "plain.jpg", quality=95)
    Image.fromarray(wide[..., 0]).save(tmp_path / "grey.png")
    for min_side in (0, 128):
        turned, plain = load_rgb(tmp_path / "turned.jpg", min_side), load_rgb(tmp_path / "plain.jpg", min_side)
        assert turned.mode == plain.mode == "RGB"
        assert turned.size == plain.size[::-1] and turned.width < turned.height
        top = np.asarray(turned)[: turned.height // 6].mean()  # the band is now along the top
        assert top > 200 and np.asarray(turned)[turned.height // 2 :].mean() < 30
    grey = load_rgb(tmp_path / "grey.png")
    assert grey.mode == "RGB" and np.array_equal(np.asarray(grey)[..., 1], wide[..., 0])


@pytest.mark.parametrize("kx, ky", [(1, 2), (2, 1), (2, 2), (4, 2), (1, 4)])
def test_halving_is_the_block_mean(kx, ky):
    from data.transforms import halve

    rng = np.random.default_rng(kx * 10 + ky)
    img = rng.integers(0, 256, (53, 41, 3), dtype=np.uint8)  # odd sides: the remainder is dropped
    out = halve(img, kx, ky)
    h, w = 53 // ky, 41 // kx
    block = img[: h * ky, : w * kx].reshape(h, ky, w, kx, 3).astype(np.float64).mean(axis=(1, 3))
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    assert np.abs(out - block).max() <= 1.0  # rounding, once per 2:1 pass


def test_cached_photo_augments_as_the_full_decode(big_photo, tmp_path):
    """What the decoded cache keeps (2.5 × the training size) and the full-size photo, through the same
    draws of the training transform: the same picture to a couple of grey levels, as sharp to 5 %."""
    import data.transforms as transforms
    from configs import load_config
    from data import ImageFolderSource, cache_side, decode_side, load_rgb

    cfg = load_config("lcnet050_cosface_96", [])
    cfg.data.image_size = 128  # the fine-tuning size (the config's ONNX shape is not used here)
    (tmp_path / "photos").mkdir()
    Image.fromarray(big_photo).save(tmp_path / "photos" / "photo.jpg", quality=92)
    source = ImageFolderSource(
        tmp_path / "photos", True, tmp_path / "cache", min_side=decode_side(cfg.data), cache_side=cache_side(cfg.data)
    )
    kept = source.load(0)[0]
    assert isinstance(kept, np.ndarray) and min(kept.shape[:2]) == cache_side(cfg.data) == 320
    full = np.asarray(load_rgb(tmp_path / "photos" / "photo.jpg"))
    warp = RandomWarpCrop(128, perspective=0.15, rotation=5, scale=(0.8, 1.0))
    diffs, sharp_kept, sharp_full = [], [], []
    for seed in range(12):
        torch.manual_seed(seed)
        a = warp(kept)
        torch.manual_seed(seed)
        gap, transforms.PRESHRINK_GAP = transforms.PRESHRINK_GAP, 1 << 30  # full resolution, as before
        try:
            b = warp(full)
        finally:
            transforms.PRESHRINK_GAP = gap
        diffs.append(np.abs(a.astype(np.float64) - b).mean())
        sharp_kept.append(_sharpness(a))
        sharp_full.append(_sharpness(b))
    assert np.mean(diffs) < 4.0
    assert 0.95 * np.mean(sharp_full) < np.mean(sharp_kept) < 1.05 * np.mean(sharp_full)
    # The whole training transform, each image on its own seed: the same range, and image by image
    # nearly the same pixels. (A crop box drawn at the edge of fitting may fit one size and not the
    # other after rounding; that draw then goes another way, so a few images may differ wholly.)
    augment = train_transform(128, cfg.data.mean, cfg.data.std, "medium")
    outs = {}
    for name, image in (("kept", kept), ("full", Image.fromarray(full))):
        outs[name] = torch.stack([augment(image) for _ in _seeds(24)])
    assert abs(outs["full"].mean() - outs["kept"].mean()) < 0.05
    assert abs(outs["full"].std() - outs["kept"].std()) < 0.05
    close = (outs["full"] - outs["kept"]).abs().mean(dim=(1, 2, 3)) < 0.08  # normalised units (std 0.22 ≈ 56 levels)
    assert close.sum() >= 20, close


def _seeds(n: int):
    for seed in range(n):
        torch.manual_seed(seed)
        yield seed
