"""Per-item CPU costs on this machine, the inputs of the scale planner (`w2s plan`): seconds of
one CPU core (and output bytes) per second of 720p / 540p video, for every CPU-side step.

    python bench/unit_costs.py [--quick]

Each step runs in this process on one core (torch / OpenCV threads 1), over a 4-s 1280x720
30-fps clip of real footage (bench/_common.long_clip): metrics, the CPU teachers (prepare +
score), every distortion family at 540p as make_pairs renders it (libx264 lossless / the
compression encoders; h265 at the paper's veryslow preset over its first second only), the
scorer's decode (16 key frames at 384 px + their 224-px motion chunks) and the motion cache's
decode. The planner multiplies these by the pool's size and duration and divides by the CPUs;
GPU-side costs come from bench/results/teachers_gpu.json when a GPU run wrote it, otherwise from
the stated assumptions in w2s/plan.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import long_clip, write_result  # noqa: E402

SECONDS, W, H = 4, 1280, 720


def timed(fn, *a, **kw) -> float:
    t = time.perf_counter()
    fn(*a, **kw)
    return time.perf_counter() - t


def main() -> None:
    import argparse

    import torch

    from w2s.metrics.table import safe_video_metrics
    from w2s.scoring.inputs import Sampling, decode
    from w2s.teachers import create_teacher
    from w2s.video import open_reader, probe
    from w2s.video.distort import FAMILIES, distort

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="skip h265 veryslow")
    args = p.parse_args()
    torch.set_num_threads(1)
    clip = long_clip(SECONDS, W, H)
    secs = probe(clip).duration
    out: dict = {"clip": {"seconds": round(secs, 2), "width": W, "height": H, "fps": 30},
                 "cpu_s_per_video_second": {}, "render_bytes_per_video_second_540p": {}}
    cost = out["cpu_s_per_video_second"]
    cost["metrics_720p"] = timed(safe_video_metrics, clip) / secs
    for name in ("niqe", "lowlevel"):
        t = create_teacher(name)
        t.setup()
        cost[f"teacher_{name}_720p"] = timed(lambda t=t: t.score_batch([t.prepare(clip)])) / secs
    cost["score_decode_720p"] = timed(decode, clip, Sampling(image_size=384, max_frames=16)) / secs
    with open_reader(clip) as r:  # training: the key frames only (motion comes from the cache)
        cost["keyframes_720p"] = timed(lambda: list(r.frames(r.key_frame_indices()[:16], size=(384, 384)))) / secs
    with open_reader(clip) as r:
        cost["motion_decode_720p"] = timed(lambda: sum(1 for _ in r.chunks(size=(224, 224), length=32))) / secs
    with tempfile.TemporaryDirectory() as tmp:
        short = os.path.join(tmp, "one_second.mp4")
        for kind, fam in FAMILIES.items():
            if kind == "h265" and args.quick:
                continue
            level = (fam.num_levels + 1) // 2
            dst = os.path.join(tmp, f"{kind}.mp4")
            src, n = clip, secs
            if kind == "h265":  # ~1.3 fps at 540p: time the first second only
                src = _first_second(clip, short)
                n = probe(src).duration
            dt = timed(distort, src, dst, kind, level, preset="veryslow" if kind == "h265" else None,
                       max_short_side=540)
            cost[f"render_{kind}_540p"] = dt / n
            out["render_bytes_per_video_second_540p"][kind] = os.path.getsize(dst) / n
            print(f"render {kind:>8} L{level}: {dt / n:6.2f} CPU-s per video-s, "
                  f"{os.path.getsize(dst) / n / 2**20:6.2f} MiB per video-s")
    for k, v in cost.items():
        print(f"{k:>24}: {v:.3f} CPU-s per video-second")
    out["cpu_s_per_video_second"] = {k: round(v, 4) for k, v in cost.items()}
    out["render_bytes_per_video_second_540p"] = {k: round(v) for k, v in out["render_bytes_per_video_second_540p"].items()}
    out["note"] = ("wall seconds per step in one process (torch threads 1; the encoders may thread over the 2 cores, so renders are conservative); renders at max_short_side 540 as configs/paper.yaml, "
                   "h265 at preset veryslow over 1 s; libx264 renders are lossless (qp 0) but h264/h265 levels")
    write_result("unit_costs", out)


def _first_second(clip: str, dst: str) -> str:
    """The first second of `clip` (30 frames), re-encoded lossless at its size."""
    from w2s.video import open_reader
    from w2s.video.encode import EncodeSpec, VideoWriter

    with open_reader(clip) as r, VideoWriter(dst, r.info.fps, EncodeSpec("libx264", 0, "ultrafast", "yuv444p")) as w:
        for _, f in r.frames(range(int(round(r.info.fps)))):
            w.write(f)
    return dst


if __name__ == "__main__":
    main()
