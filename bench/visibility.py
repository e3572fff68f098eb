"""How visible is each distortion family at the student's input? Per held-out (clip, family) of
a finished run, the mean absolute difference (0-255) between the key frames the student reads
(train.max_frames at student.image_size, as training decodes them) of level 1 and of each
higher level. A family whose levels differ by a pixel or two is a label the tiny student
cannot see.

    python bench/visibility.py [--run-dir runs/demo/run]      -> bench/results/visibility.json
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import write_result  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    import numpy as np
    import pandas as pd

    from w2s.config import load_config
    from w2s.rundir import RunDir
    from w2s.student.examples import keyframes

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "demo", "run"))
    p.add_argument("--config", default=os.path.join(ROOT, "configs", "demo.yaml"))
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    size, frames = cfg.student.image_size, cfg.train.max_frames
    held = RunDir(os.path.abspath(args.run_dir)).read_pairs(stage="heldout")
    rows = []
    for (src, fam), g in held.groupby(["source", "family"]):
        lv = g["levels"].str.split("-", expand=True).astype(int)
        uris = dict(zip(lv[0], g["first_uri"], strict=True)) | dict(zip(lv[1], g["second_uri"], strict=True))
        f = {k: keyframes(u, size, frames, cfg.train.frame_sampling).astype(np.float32) for k, u in sorted(uris.items())}
        rows.append({"clip": src.rsplit("/", 1)[-1], "family": fam,
                     **{f"L{k}": round(float(np.abs(v - f[1]).mean()), 2) for k, v in f.items() if k > 1}})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    mean = table.drop(columns="clip").groupby("family").mean().round(2)
    print(write_result("visibility", {
        "what": f"mean |key frames(level k) - key frames(level 1)| (0-255), {frames} key frames at {size} px",
        "run_dir": args.run_dir, "per_clip": rows, "mean_by_family": mean.to_dict(orient="index")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
