"""GPU check: each model teacher's model side, in videos per second per GPU at its official
input size and declared batch size (random weights: speed does not depend on them), written to
bench/results/teachers_gpu.json in the format `w2s plan` reads ({"gpu", "date", "items_per_s"}).

    python bench/teachers_gpu.py [--qalign-dir DIR] [--repeat 3]

The CPU side (decode + sampling) is measured once per teacher on an 8-s 720p clip and reported
next to it (`prepare_s_per_video`), so the planner's decode cost can be checked. Needs CUDA:
without it the script refuses (the planner would otherwise read CPU rates as GPU rates).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import long_clip, write_result  # noqa: E402

from w2s.teachers import create_teacher  # noqa: E402

MODEL_TEACHERS = ["fast-vqa", "fastervqa", "dover", "minimalisticvqa-vii", "minimalisticvqa-ix"]


def rate(teacher, item, repeat: int) -> tuple[float, float]:
    """(videos per second, peak GPU memory in MB) of the model side at the declared batch size."""
    teacher.setup()
    batch = [item] * teacher.resources.batch_size
    torch.cuda.reset_peak_memory_stats()
    teacher.score_batch(batch)  # warm-up (cudnn autotune, allocator)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeat):
        teacher.score_batch(batch)
    torch.cuda.synchronize()
    return repeat * len(batch) / (time.perf_counter() - t0), torch.cuda.max_memory_allocated() / 2**20


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qalign-dir", help="a local Q-Align model directory (q-align is skipped without one)")
    ap.add_argument("--trust-remote-code", action="store_true", help="for the official Q-Align checkpoint")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    if not torch.cuda.is_available():
        raise SystemExit("bench.teachers_gpu needs a CUDA GPU (nothing written)")
    clip = long_clip(8, 1280, 720)
    specs = {name: {} for name in MODEL_TEACHERS}
    if args.qalign_dir:
        specs["q-align"] = {"model_dir": args.qalign_dir, "trust_remote_code": args.trust_remote_code}
    rates, prep, memory = {}, {}, {}
    for name, params in specs.items():
        t = create_teacher(name, **params)
        t0 = time.perf_counter()
        item = t.prepare(clip)
        prep[name] = round(time.perf_counter() - t0, 3)
        r, mb = rate(t, item, args.repeat)
        rates[name], memory[name] = round(r, 2), round(mb)
        print(f"{name:22s} {r:8.2f} videos/s/GPU (batch {t.resources.batch_size}), peak {mb:,.0f} MB "
              f"(declared {t.resources.gpu_memory_mb:,}), prepare {prep[name]:.2f} s/video on one CPU")
        del t
        torch.cuda.empty_cache()
    write_result("teachers_gpu", {"gpu": torch.cuda.get_device_name(0), "date": datetime.date.today().isoformat(),
                                  "items_per_s": rates, "peak_gpu_memory_mb": memory, "prepare_s_per_video": prep,
                                  "note": "official input sizes, declared batch sizes, fp32, random weights"})


if __name__ == "__main__":
    main()
