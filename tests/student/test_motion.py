import numpy as np
import pytest
import torch

from tests.helpers import moving_frames, write_video
from w2s.student.motion import MotionExtractor, chunk_to_pathways, load_slowfast, slow_indices
from w2s.student.slowfast import SlowFastR50

# Facts of the public SLOWFAST_8x8_R50 checkpoint layout (pytorchvideo create_slowfast, depth 50)
EXPECTED = {
    "blocks.0.multipathway_blocks.0.conv.weight": (64, 3, 1, 7, 7),
    "blocks.0.multipathway_blocks.1.conv.weight": (8, 3, 5, 7, 7),
    "blocks.0.multipathway_fusion.conv_fast_to_slow.weight": (16, 8, 7, 1, 1),
    "blocks.1.multipathway_blocks.0.res_blocks.0.branch1_conv.weight": (256, 80, 1, 1, 1),
    "blocks.1.multipathway_blocks.1.res_blocks.0.branch2.conv_a.weight": (8, 8, 3, 1, 1),
    "blocks.2.multipathway_blocks.0.res_blocks.0.branch2.conv_a.weight": (128, 320, 1, 1, 1),
    "blocks.3.multipathway_blocks.0.res_blocks.5.branch2.conv_a.weight": (256, 1024, 3, 1, 1),
    "blocks.3.multipathway_fusion.conv_fast_to_slow.weight": (256, 128, 7, 1, 1),
    "blocks.4.multipathway_blocks.0.res_blocks.0.branch1_conv.weight": (2048, 1280, 1, 1, 1),
    "blocks.4.multipathway_blocks.1.res_blocks.2.branch2.conv_c.weight": (256, 64, 1, 1, 1),
    "blocks.4.multipathway_blocks.1.res_blocks.2.branch2.norm_c.running_var": (256,),
    "blocks.6.proj.weight": (400, 2304),
    "blocks.6.proj.bias": (400,),
}


def test_parameter_layout_matches_the_public_checkpoint():
    sd = SlowFastR50().state_dict()
    for k, shape in EXPECTED.items():
        assert tuple(sd[k].shape) == shape, k
    assert len(sd) == 662
    assert sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k) == 34_566_488
    assert "blocks.4.multipathway_fusion.conv_fast_to_slow.weight" not in sd  # no fusion after stage 4
    assert "blocks.1.multipathway_blocks.0.res_blocks.1.branch1_conv.weight" not in sd


def test_checkpoint_in_that_layout_loads(tmp_path):
    torch.manual_seed(0)
    src = SlowFastR50().eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrong load would show
        for m in src.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "SLOWFAST_8x8_R50.pyth"
    torch.save({"model_state": src.state_dict(), "epoch": 196}, path)  # pytorchvideo's format
    model, random_init = load_slowfast(str(path))
    assert not random_init
    x = [torch.randn(2, 3, 8, 64, 64), torch.randn(2, 3, 32, 64, 64)]
    with torch.no_grad():
        assert torch.allclose(model(x), src(x), atol=1e-6)
        assert model.fast_features(x).shape == (2, 256)
    torch.save(src.state_dict(), tmp_path / "bare.pt")  # a bare state dict works too
    assert not load_slowfast(str(tmp_path / "bare.pt"))[1]
    bad = src.state_dict()
    bad.pop("blocks.6.proj.bias")
    torch.save(bad, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_slowfast(str(tmp_path / "bad.pt"))


def test_fast_features_skip_the_slow_pathway_bit_for_bit():
    """The fast pathway alone gives the whole trunk's fast feature exactly (fusion runs fast ->
    slow only), whatever the slow input; with non-trivial BN statistics, as a checkpoint has."""
    torch.manual_seed(1)
    model = SlowFastR50().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        fast = torch.randn(2, 3, 32, 64, 64)
        x = [torch.randn(2, 3, 8, 64, 64), fast]
        full = model.fast_features_full_trunk(x)
        assert torch.equal(model.fast_features(x), full)
        assert torch.equal(model.fast_features([torch.zeros(2, 3, 8, 64, 64), fast]), full)
        assert not torch.equal(model.fast_features([x[0], fast.flip(2)]), full)  # it does read fast


def test_pathways_and_normalisation():
    assert slow_indices().tolist() == [0, 4, 8, 13, 17, 22, 26, 31]
    chunk = np.full((32, 16, 16, 3), 255, np.uint8)
    slow, fast = chunk_to_pathways(chunk)
    assert slow.shape == (3, 8, 16, 16) and fast.shape == (3, 32, 16, 16)
    assert torch.allclose(fast, torch.full_like(fast, (1 - 0.45) / 0.225))


def test_random_init_is_reported_loudly(caplog):
    with caplog.at_level("WARNING"):
        _, random_init = load_slowfast(None)
    assert random_init and "RANDOMLY INITIALISED" in caplog.text


def test_random_init_is_the_same_network_in_every_process():
    """Actors of the motion stage each build their own network: random weights must agree."""
    torch.manual_seed(123)
    a, _ = load_slowfast(None)
    torch.manual_seed(456)
    b, _ = load_slowfast(None)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


def test_random_init_leaves_the_callers_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_slowfast(None)
    assert torch.equal(torch.rand(3), expected)


def test_one_feature_per_second(tmp_path):
    path = write_video(tmp_path / "v.mp4", moving_frames(70, w=64, h=48), fps=25)  # 2.8 s
    ext = MotionExtractor(size=64, batch_size=2)
    f = ext.features(path)
    assert f.shape == (3, 256) and f.dtype == np.float32 and np.isfinite(f).all()
    assert not np.allclose(f[0], f[2])  # different content, different features
    assert np.allclose(ext.features(path), f, atol=1e-5)  # deterministic
    np.testing.assert_allclose(ext.features(path, max_seconds=2), f[:2], atol=1e-5)  # motion.max_seconds
    assert len(ext.features(path, max_seconds=10)) == 3
