"""Our PP-LCNet against timm's: same parameter names and shapes, same outputs for the same weights."""

import pytest
import timm
import torch

from models import build_backbone, lcnet
from models.lcnet import LCNet


@pytest.mark.parametrize("name", ["lcnet_050", "lcnet_100"])
def test_state_dict_and_outputs_match_timm(name):
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False)
    ours = lcnet(name)
    ref_sd, our_sd = ref.state_dict(), ours.state_dict()
    assert list(our_sd) == list(ref_sd)
    assert all(our_sd[k].shape == ref_sd[k].shape for k in ref_sd)

    # Random BN statistics too, so a mix-up of running stats or eps would show.
    with torch.no_grad():
        for k, v in ref_sd.items():
            if k.endswith("running_var"):
                v.uniform_(0.5, 2.0)
            elif k.endswith("running_mean"):
                v.normal_(0, 0.1)
    ours.load_state_dict(ref_sd)  # strict: no missing or unexpected keys
    ref.eval(), ours.eval()
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=1e-5)
        torch.testing.assert_close(ours.forward_features(x), ref.forward_features(x), rtol=0, atol=1e-5)


def test_timm_state_dict_loads_into_feature_extractor():
    ref = timm.create_model("lcnet_050", pretrained=False)
    features = lcnet("lcnet_050", num_classes=0)
    missing, unexpected = features.load_state_dict(ref.state_dict(), strict=False)
    assert missing == []
    assert set(unexpected) == {"conv_head.weight", "conv_head.bias", "classifier.weight", "classifier.bias"}


@pytest.mark.parametrize("width", [0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0])
def test_all_widths_build_and_downsample_by_32(width):
    model = LCNet(width, num_classes=0).eval()
    stages = model.forward_stages(torch.randn(1, 3, 64, 64))
    assert [s.shape[-1] for s in stages] == [32, 16, 8, 4, 4, 2]
    assert stages[-1].shape[1] == model.num_features
    # SE only in the last stage, 5×5 depthwise kernels from stage 3's second block on.
    assert not any(hasattr(b.se, "conv_reduce") for s in model.blocks[:5] for b in s)
    assert all(hasattr(b.se, "conv_reduce") for b in model.blocks[5])
    assert model.blocks[3][1].conv_dw.kernel_size == (5, 5)


def test_timm_backbone_option():
    backbone = build_backbone("timm:efficientnet_b0").eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 64, 64))
    assert out.ndim == 4 and out.shape[1] == backbone.num_features
