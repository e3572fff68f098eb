import fsspec
import numpy as np
import pytest

from tests.helpers import moving_frames, sample, write_vfr, write_video
from w2s.video import key_frame_indices, open_reader, probe


def test_probe_sample_video():
    info = probe(sample("bikes.mp4"))
    assert (info.width, info.height, info.fps, info.num_frames) == (640, 272, 25.0, 250)
    assert info.codec == "h264" and info.rotation == 0
    assert info.duration == pytest.approx(10.0)


def test_key_frames_are_one_per_second_at_k_fps():
    with open_reader(sample("bigbuckbunny.mp4")) as r:
        idx = [i for i, _ in r.key_frames(size=(160, 90))]
    assert idx == [0, 25, 50, 75, 100, 125]


def test_key_frames_exact_pixels_match_full_decode(tmp_path):
    frames = moving_frames(60)
    path = write_video(tmp_path / "m.mp4", frames, fps=20)
    with open_reader(path) as r:
        got = dict(r.key_frames())
    assert sorted(got) == [0, 20, 40]
    for i, f in got.items():  # lossless source: decoded == written (RGB<->YUV rounding)
        assert np.abs(f.astype(int) - frames[i]).max() <= 2


def test_seek_and_sequential_decoding_agree(tmp_path):
    spec_kw = dict(codec="libx264", crf=18, preset="ultrafast", pix_fmt="yuv420p",
                   options={"g": "10"})
    from w2s.video.encode import EncodeSpec

    path = write_video(tmp_path / "gop.mp4", moving_frames(120), fps=30, spec=EncodeSpec(**spec_kw))
    with open_reader(path, seek=True) as a, open_reader(path, seek=False) as b:
        fa, fb = list(a.key_frames()), list(b.key_frames())
    assert [i for i, _ in fa] == [i for i, _ in fb] == [0, 30, 60, 90]
    for (_, x), (_, y) in zip(fa, fb, strict=True):
        assert np.array_equal(x, y)


def test_resize_while_decoding():
    with open_reader(sample("bikes.mp4")) as r:
        _, f = next(iter(r.key_frames(size=(320, 136))))
    assert f.shape == (136, 320, 3) and f.dtype == np.uint8


def test_chunks_are_32_consecutive_frames_padded_with_last(tmp_path):
    frames = moving_frames(50)
    path = write_video(tmp_path / "c.mp4", frames, fps=25)
    with open_reader(path) as r:
        chunks = list(r.chunks(length=32))
    assert [k for k, _ in chunks] == [0, 1]
    first, second = chunks[0][1], chunks[1][1]
    assert first.shape == (32, 64, 96, 3)
    assert np.abs(first[5].astype(int) - frames[5]).max() <= 2
    # chunk 1 starts at frame 25 and runs past the end (frame 49): padded with frame 49
    assert np.abs(second[0].astype(int) - frames[25]).max() <= 2
    assert np.array_equal(second[24], second[31])
    assert np.abs(second[31].astype(int) - frames[49]).max() <= 2


def test_frame_pairs_are_consecutive(tmp_path):
    frames = moving_frames(30)
    path = write_video(tmp_path / "p.mp4", frames, fps=10)
    with open_reader(path) as r:
        pairs = list(r.frame_pairs())
    assert len(pairs) == 3
    for k, a, b in pairs:
        assert np.abs(a.astype(int) - frames[10 * k]).max() <= 2
        assert np.abs(b.astype(int) - frames[10 * k + 1]).max() <= 2


@pytest.mark.parametrize("name", ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"])
def test_decord_gives_the_same_frames(name):
    with open_reader(sample(name)) as a, open_reader(sample(name), backend="decord") as b:
        assert np.allclose(a.times, b.times)
        fa, fb = list(a.key_frames()), list(b.key_frames())
        ra = list(a.key_frames(size=(128, 72)))
        rb = list(b.key_frames(size=(128, 72)))
    assert [i for i, _ in fa] == [i for i, _ in fb]
    for (_, x), (_, y) in zip(fa, fb, strict=True):  # native size: bit-identical
        assert np.array_equal(x, y)
    for (_, x), (_, y) in zip(ra, rb, strict=True):  # resized: swscale settings may differ
        assert np.abs(x.astype(float) - y).mean() < 2.0


def test_remote_uri_through_fsspec(tmp_path):
    src = sample("carphone_pristine.mp4")
    with fsspec.open("memory://bucket/carphone.mp4", "wb") as fh:
        fh.write(open(src, "rb").read())
    info = probe("memory://bucket/carphone.mp4")
    assert (info.width, info.height, info.num_frames) == (176, 144, 120)
    with open_reader("memory://bucket/carphone.mp4") as r, open_reader(src) as loc:
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(r.key_frames(), loc.key_frames(), strict=True))


def test_one_pixel_video(tmp_path):
    frames = [np.full((1, 1, 3), v, np.uint8) for v in range(0, 250, 10)]
    path = write_video(tmp_path / "1px.mp4", frames, fps=25)
    info = probe(path)
    assert (info.width, info.height, info.num_frames) == (1, 1, 25)
    with open_reader(path) as r:
        got = list(r.key_frames())
    assert len(got) == 1 and got[0][1].shape == (1, 1, 3)


def test_variable_frame_rate_video(tmp_path):
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.02, 0.15, size=60))
    times -= times[0]
    frames = moving_frames(60)
    path = write_vfr(tmp_path / "vfr.mp4", frames, times)
    with open_reader(path) as r:
        assert np.allclose(r.times, times, atol=1e-3)
        got = list(r.key_frames())
    expect = key_frame_indices(times)
    assert [i for i, _ in got] == list(expect)
    for k, (i, f) in enumerate(got):  # the first frame shown at or after k seconds
        assert times[i] >= k - 1e-3 and (i == 0 or times[i - 1] < k)
        assert np.abs(f.astype(int) - frames[i]).max() <= 2


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_is_applied(tmp_path, rotation):
    frames = moving_frames(10, w=64, h=32)
    path = write_video(tmp_path / "r.mp4", frames, fps=10, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((32, 64) if rotation in (90, 270) else (64, 32))
    for backend in ("pyav", "decord"):
        with open_reader(path, backend=backend) as r:
            _, f = next(iter(r.key_frames()))
            _, small = next(iter(r.key_frames(size=(info.width // 2, info.height // 2))))
        assert f.shape == (info.height, info.width, 3)
        assert small.shape == (info.height // 2, info.width // 2, 3)
        expect = np.rot90(frames[0], k=rotation // 90)  # counter-clockwise, as displayed
        assert np.abs(f.astype(int) - expect).max() <= 2


def test_rotation_matches_ffmpeg_autorotate(tmp_path):
    import subprocess

    import imageio_ffmpeg

    frames = moving_frames(5, w=64, h=32)
    path = write_video(tmp_path / "r.mp4", frames, fps=5, rotation=90)
    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", path, "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, np.uint8).reshape(64, 32, 3)
    with open_reader(path) as r:
        _, f = next(iter(r.key_frames()))
    assert np.abs(f.astype(int) - ref).mean() < 2.0
