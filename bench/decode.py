"""1-fps key-frame sampling vs decoding every frame (PyAV) vs the ffmpeg CLI to rawvideo.

Same clips, same process, best of 3. Ratios > 1 mean 1-fps sampling is faster.
    python bench/decode.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import av
import imageio_ffmpeg

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import long_clip, timed, write_result  # noqa: E402

from w2s.pool import source_path  # noqa: E402
from w2s.video import open_reader, probe  # noqa: E402


def sample_1fps(path: str) -> int:
    with open_reader(path) as r:
        return sum(1 for _ in r.key_frames())


def pyav_all_frames(path: str) -> int:
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for f in c.decode(s) if f.to_ndarray(format="rgb24") is not None)


def ffmpeg_rawvideo(path: str) -> int:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", path, "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE) as p:
        n = 0
        while chunk := p.stdout.read(1 << 22):
            n += len(chunk)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="shorter long clips")
    args = ap.parse_args()
    secs = 10 if args.quick else 30
    clips = {
        "bigbuckbunny.mp4 (as shipped, 1 GOP)": source_path("bigbuckbunny.mp4"),
        "bikes.mp4 (as shipped)": source_path("bikes.mp4"),
        f"{secs}s 720p30, 2-s GOP": long_clip(secs, 1280, 720, gop_s=2.0),
        f"{secs}s 1080p30, 2-s GOP": long_clip(secs, 1920, 1080, gop_s=2.0),
        f"{secs}s 720p30, 10-s GOP": long_clip(secs, 1280, 720, gop_s=10.0),
    }
    rows = []
    for name, path in clips.items():
        info = probe(path)
        t1 = timed(lambda p=path: sample_1fps(p))
        tp = timed(lambda p=path: pyav_all_frames(p))
        tf = timed(lambda p=path: ffmpeg_rawvideo(p))
        row = {"clip": name, "frames": info.num_frames, "size": f"{info.width}x{info.height}",
               "s_1fps": round(t1, 4), "s_pyav_all": round(tp, 4), "s_ffmpeg_cli": round(tf, 4),
               "ratio_ffmpeg_over_1fps": round(tf / t1, 2), "ratio_pyav_all_over_1fps": round(tp / t1, 2)}
        rows.append(row)
        print(f"{name:40s} 1fps {t1:7.3f}s  pyav-all {tp:7.3f}s  ffmpeg {tf:7.3f}s  "
              f"x{tf / t1:5.2f} vs ffmpeg  x{tp / t1:5.2f} vs pyav-all")
    write_result("decode", {"goal": "1-fps sampling >= 3x faster than ffmpeg full decode", "rows": rows})


if __name__ == "__main__":
    main()
