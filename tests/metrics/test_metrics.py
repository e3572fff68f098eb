import json
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import moving_frames, sample, write_video
from w2s.metrics import METRIC_NAMES, frame_metrics, spatial, temporal, video_metrics
from w2s.metrics.cpbd import cpbd
from w2s.video.distort import distort


def test_flat_frames_have_zero_contrast_si_and_colourfulness():
    flat = np.full((64, 80, 3), 128, np.uint8)
    m = frame_metrics(flat)
    assert m["contrast"] == 0 and m["si"] == 0 and m["noise"] == 0
    assert m["colourfulness"] == 0 and m["blockiness"] == 1.0
    assert m["luminance"] == pytest.approx(128, abs=0.01)
    assert np.isnan(m["blur"])  # no edges: CPBD undefined for the frame


def test_static_video_has_zero_ti_and_flicker(tmp_path):
    frame = moving_frames(1)[0]
    path = write_video(tmp_path / "static.mp4", [frame] * 50, fps=10)
    m = video_metrics(path)
    assert m["ti"] == 0 and m["flicker"] == 0
    assert m["si"] > 0 and m["contrast"] > 0


def test_moving_video_has_positive_ti(tmp_path):
    path = write_video(tmp_path / "moving.mp4", moving_frames(40), fps=10)
    assert video_metrics(path)["ti"] > 1


@pytest.mark.parametrize("sigma", [3.0, 8.0, 15.0])
def test_noise_estimate_recovers_injected_sigma(sigma):
    yy, xx = np.mgrid[0:240, 0:320]
    smooth = 60 + 0.3 * xx + 0.2 * yy  # a ramp: no texture for the estimator to mistake
    rng = np.random.default_rng(0)
    noisy = smooth + rng.normal(0, sigma, smooth.shape)
    assert spatial.noise_sigma(noisy.astype(np.float32)) == pytest.approx(sigma, rel=0.10)


def test_cpbd_falls_across_the_five_blur_levels(tmp_path):
    src = sample("bikes.mp4")
    vals = [video_metrics(distort(src, tmp_path / f"b{lv}.mp4", "blur", lv)["output"])["blur"]
            for lv in range(1, 6)]
    assert all(b <= a for a, b in zip(vals, vals[1:], strict=False)), vals
    assert vals[0] > vals[1] > vals[2], vals  # strict while edges are still sharp enough
    assert vals[0] - vals[4] > 0.2, vals


def test_blockiness_rises_with_x264_crf(tmp_path):
    src = sample("bikes.mp4")  # natural footage (the cartoon bigbuckbunny carries its own blocks)
    vals = [video_metrics(distort(src, tmp_path / f"h{lv}.mp4", "h264", lv)["output"])["blockiness"]
            for lv in range(1, 5)]
    assert vals[0] < vals[1] < vals[2] <= vals[3], vals  # level 4 = CRF 51 (8-bit clamp)


def test_blockiness_sees_an_8x8_grid():
    rng = np.random.default_rng(0)
    blocks = np.kron(rng.uniform(0, 255, (8, 10)), np.ones((8, 8)))  # flat 8x8 blocks
    assert spatial.blockiness(blocks.astype(np.float32)) > 10
    smooth = np.tile(np.linspace(0, 255, 80, dtype=np.float32), (64, 1))
    assert spatial.blockiness(smooth) == pytest.approx(1.0, abs=0.01)


def test_colourfulness_matches_the_formula():
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rg = np.array([255, 0, 0, 0.0])
    yb = np.array([127.5, 0, 0, 0.0])
    expect = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert spatial.colourfulness(rgb) == pytest.approx(expect, rel=1e-5)


def test_flicker_counts_blocks_switching_to_updated():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    b[0, :] = True  # 4 of 16 blocks switch on
    assert temporal.flicker([a, b]) == pytest.approx(0.25)
    assert temporal.flicker([b, b]) == 0.0
    assert temporal.flicker([a]) == 0.0


def test_cpbd_sharp_higher_than_blurred():
    from scipy import ndimage
    from skimage import data

    img = data.camera().astype(np.float64)
    assert cpbd(img) > cpbd(ndimage.gaussian_filter(img, 2.0)) + 0.2


def test_cli_metrics_json_keys(tmp_path):
    path = write_video(tmp_path / "v.mp4", moving_frames(30), fps=10)
    r = subprocess.run([sys.executable, "-m", "w2s.cli", "metrics", path, "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    assert list(obj) == list(METRIC_NAMES)
    assert set(obj) == {"blockiness", "blur", "contrast", "noise", "flicker",
                        "colourfulness", "luminance", "si", "ti"}


def test_cli_metrics_bad_file_one_line_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    r = subprocess.run([sys.executable, "-m", "w2s.cli", "metrics", str(bad), "--json"],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert str(bad) in r.stderr and r.stdout == ""


def test_metrics_table_records_bad_videos(tmp_path):
    from w2s.metrics.table import metrics_table

    good = write_video(tmp_path / "g.mp4", moving_frames(20), fps=10)
    (tmp_path / "empty.mp4").write_bytes(b"")
    df = metrics_table([good, str(tmp_path / "empty.mp4")], workers=2, progress=False)
    assert df["error"].isna().tolist() == [True, False]
    assert "empty" in df["error"].iloc[1] and np.isfinite(df.loc[0, "contrast"])
