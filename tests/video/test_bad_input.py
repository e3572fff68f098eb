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


# -- hostile files: each refused before it costs much (bench/hostile.py builds them) ----------

def _reason(fn, path) -> str:
    with pytest.raises(VideoDecodeError) as e:
        fn(str(path))
    return e.value.reason


def _decode(path):
    from w2s.scoring.inputs import Sampling, decode

    return decode(str(path), Sampling(image_size=32, max_frames=4, motion_size=16))


def test_decompression_bomb_is_refused_before_a_frame_is_decoded(tmp_path):
    import subprocess
    import sys

    from bench.hostile import bomb_mp4
    from w2s.video.source import MAX_PIXELS

    bomb = bomb_mp4(str(tmp_path / "bomb.mp4"))  # ~1.5 KB; its SPS declares 16000x16000
    assert os.path.getsize(bomb) < 4096
    want = f"frame size 16000x16000 is over the limit of {MAX_PIXELS} pixels"
    for fn in (probe, lambda p: open_reader(p).__enter__(), _decode):
        assert want in _reason(fn, bomb)
    # in a fresh process (VmHWM: its own peak RSS; ru_maxrss would carry pytest's over the fork):
    # opening it adds far less than one 16000x16000 frame (384 MB of yuv420p). Unchecked, opening
    # alone added ~680 MB and decoding one frame ~1.8 GB; checked, ~85 MB (the h264 decoder's
    # per-macroblock tables while probing, FFmpeg's max_pixels refusing the frame itself)
    code = ("import sys\n"
            "hwm = lambda: int([x for x in open('/proc/self/status') if x.startswith('VmHWM')][0].split()[1]) >> 10\n"
            "from w2s.video import VideoDecodeError, open_reader\nbase = hwm()\n"
            "try:\n    open_reader(sys.argv[1]).__enter__()\nexcept VideoDecodeError as e:\n    print(e.reason)\n"
            "print(hwm() - base)")
    out = subprocess.run([sys.executable, "-c", code, bomb], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    reason, added_mb = out.stdout.strip().splitlines()
    assert want in reason and int(added_mb) < 250, out.stdout


def test_a_frame_that_grows_past_the_limit_mid_stream_is_refused(tmp_path):
    from bench.hostile import growing_bomb_ts

    path = growing_bomb_ts(str(tmp_path / "grow.ts"))  # 64x64, then an in-band SPS of 16000x16000
    with open_reader(path) as r:
        assert (r.info.width, r.info.height) == (64, 64)  # the header check cannot see it coming
        assert "16000x16000 is over the limit" in _reason(lambda p: list(r.key_frames()), path)
    assert "16000x16000 is over the limit" in _reason(_decode, path)


def test_8k_uhd_is_under_the_pixel_limit(tmp_path):
    from bench.hostile import bomb_mp4

    path = bomb_mp4(str(tmp_path / "8k.mp4"), 7680, 4320)
    with open_reader(path) as r:  # opens (and decodes its first frame): not refused
        assert (r.info.width, r.info.height) == (7680, 4320)


def test_the_codec_size_wins_over_the_containers(tmp_path):
    import av

    from bench.hostile import bomb_mp4

    small_says_big = bomb_mp4(str(tmp_path / "a.mp4"), 64, 64)  # SPS 64x64 ...
    big_says_small = bomb_mp4(str(tmp_path / "b.mp4"), 16000, 16000)  # SPS 16000x16000 ...
    for path, w, h in ((small_says_big, 16000, 16000), (big_says_small, 64, 64)):  # ... track header w x h
        data = bytearray(open(path, "rb").read())
        i = data.find(b"avc1") + 4 + 24  # the sample entry's 16-bit width and height
        data[i : i + 4] = w.to_bytes(2, "big") + h.to_bytes(2, "big")
        open(path, "wb").write(bytes(data))
    with av.open(small_says_big) as c:  # the patch took: FFmpeg reports the SPS's size anyway
        assert (c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height) == (64, 64)
    assert probe(small_says_big).width == 64
    assert "16000x16000 is over the limit" in _reason(probe, big_says_small)


def test_a_million_frames_are_refused_from_the_header(tmp_path):
    from bench.hostile import many_frames
    from w2s.video.source import MAX_FRAMES

    path = many_frames(str(tmp_path / "million.mp4"), 10**6)  # 9.3 h of 16x16 at 30 fps
    assert f"more than {MAX_FRAMES} frames (header declares 1000000)" in _reason(_decode, path)
    assert "more than" in _reason(probe, path)


def test_frames_past_the_limit_are_refused_while_demuxing_when_no_header_counts_them(tmp_path, monkeypatch):
    from bench.hostile import many_frames
    from w2s.video import source

    path = many_frames(str(tmp_path / "many.mkv"), 3000, gop=50)  # Matroska: no frame count
    assert probe(path).num_frames == 3000
    monkeypatch.setattr(source, "MAX_FRAMES", 2000)
    assert _reason(_decode, path) == "more than 2000 frames"


def test_sparse_timestamps_cannot_blow_up_key_frame_sampling(tmp_path):
    from bench.hostile import sparse_timestamps_mkv

    path = sparse_timestamps_mkv(str(tmp_path / "sparse.mkv"), gap_s=10**6)  # 60 frames over 11.6 days
    assert "timestamps span 1000001 s, over the limit" in _reason(_decode, path)
