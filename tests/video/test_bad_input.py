import os

import pytest

from tests.helpers import moving_frames, patch_mp4_u32, write_audio_only, write_video
from w2s.video import VideoDecodeError, open_reader, probe
from w2s.video.encode import EncodeSpec


def _check(path, words):
    for fn in (probe, lambda p: list(open_reader(p).__enter__().key_frames())):
        with pytest.raises(VideoDecodeError) as e:
            fn(str(path))
        assert e.value.uri == str(path)
        assert any(w in e.value.reason for w in words), e.value.reason


def _clip(tmp_path, name="ok.mp4", **kw):
    spec = EncodeSpec("libx264", 23, "ultrafast", "yuv420p", kw)
    return write_video(tmp_path / name, moving_frames(50), fps=25, spec=spec)


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    _check(tmp_path / "empty.mp4", ["empty"])


def test_missing_file(tmp_path):
    _check(tmp_path / "nope.mp4", ["not found"])


def test_text_renamed_mp4(tmp_path):
    (tmp_path / "notes.mp4").write_text("this is not a video\n" * 50)
    _check(tmp_path / "notes.mp4", ["not a readable media file"])


def test_truncated_file_moov_at_end(tmp_path):
    data = open(_clip(tmp_path), "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    _check(tmp_path / "cut.mp4", ["not a readable media file", "truncated"])


def test_truncated_file_faststart(tmp_path):
    import subprocess

    import imageio_ffmpeg

    src = _clip(tmp_path)
    fast = str(tmp_path / "fast.mp4")
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", src, "-c", "copy",
                    "-movflags", "+faststart", fast], check=True)
    data = open(fast, "rb").read()
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])
    _check(tmp_path / "cut.mp4", ["truncated", "could not be decoded", "corrupt"])


def test_audio_only_file(tmp_path):
    _check(write_audio_only(tmp_path / "tone.mp4"), ["no video stream"])


def test_zero_frame_rate(tmp_path):
    # every sample lasts 0 ticks (stts delta = 0): all frames share one timestamp
    src = _clip(tmp_path, bf="0")
    _check(patch_mp4_u32(src, tmp_path / "zero.mp4", b"stts", 16, 0), ["frame rate"])


def test_absent_frame_rate(tmp_path):
    # media timescale 0 (mdhd): no clock, hence no frame rate
    src = _clip(tmp_path, bf="0")
    _check(patch_mp4_u32(src, tmp_path / "nots.mp4", b"mdhd", 16, 0), ["frame rate"])


def test_error_is_picklable():
    import pickle

    e = pickle.loads(pickle.dumps(VideoDecodeError("s3://b/x.mp4", "empty file")))
    assert (e.uri, e.reason) == ("s3://b/x.mp4", "empty file")


def test_good_file_still_fine(tmp_path):
    path = _clip(tmp_path)
    assert probe(path).num_frames == 50 and os.path.getsize(path) > 0
