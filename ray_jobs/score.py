"""Stage `score`: a 0-100 quality score for every video, with a trained student.

    python -m ray_jobs score --config configs/demo.yaml [--iteration N] [--set scoring.videos=selected]

Reads the videos (`scoring.videos`: the manifest, the selected subset, or any
Parquet with a `uri` column) with Ray Data -> CPU tasks decode each video's key
frames and motion chunks (at most train.max_frames seconds) -> an actor pool of
`Scorer`s (the checkpoint's anchors, one vision pass per video, cached anchor
prefixes, batched MAP; a GPU per actor when the cluster has GPUs) ->
<run_dir>/scores/<checkpoint>/part-*.parquet (uri, score, c_0..c_4, error) plus a
histogram.png and stage.json. Resumable (scored videos are skipped); videos that
fail to decode go to failures/score.parquet. Needs the `anchors` stage first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ray_jobs.base import Stage
from ray_jobs.scorer_pool import score_all
from w2s import rundir, uri
from w2s.scoring.anchors import AnchorSet


def checkpoint_of(cfg, run_dir: rundir.RunDir) -> tuple[str, str]:
    """(checkpoint dir, its name under scores/)."""
    ckpt = cfg.scoring.checkpoint or run_dir.student(cfg.student_name)
    return ckpt, ckpt.rstrip("/").rsplit("/", 1)[-1]


def videos_of(cfg, run_dir: rundir.RunDir) -> str:
    v = cfg.scoring.videos
    if v == "manifest":
        return cfg.manifest
    if v == "selected":
        return run_dir.require(run_dir.selected(), "selected videos", "select")
    if not uri.exists(v):
        raise ValueError(f"scoring.videos: {v} not found (manifest, selected, or a Parquet with a uri column)")
    return v


class Score(Stage):
    name, iterative = "score", True

    def record_name(self, cfg):
        return checkpoint_of(cfg, rundir.RunDir(cfg.run_dir))[1]

    def check(self, ctx):
        ckpt, name = checkpoint_of(ctx.cfg, ctx.run_dir)
        ctx.run_dir.require(rundir.anchors_file(ckpt), f"anchors of checkpoint {name!r}", "anchors")

    def record_stage(self, ctx):
        return self.name

    def execute(self, ctx):
        cfg, run_dir = ctx.cfg, ctx.run_dir
        ckpt, name = checkpoint_of(cfg, run_dir)
        anchors = AnchorSet.load(ckpt, with_inputs=False)
        out = run_dir.scores(name)
        n_in, n_done = score_all(cfg, videos_of(cfg, run_dir), ckpt, out, anchors.sampling)
        table, bad = rundir.read_summary(out, ["score"])
        ctx.fail(bad.assign(reason=bad["error"]))
        s = table["score"].dropna()
        png = histogram(s, run_dir.score_histogram(name), name) if len(s) else None
        quart = s.quantile([0, 0.25, 0.5, 0.75, 1]).round(1).tolist() if len(s) else []
        ctx.rows.update({
            "videos": f"{n_in} ({n_done} already scored, skipped)", "scored": len(s), "failed": len(bad),
            "score min / 25% / median / 75% / max": " / ".join(map(str, quart)) or "-",
            "distribution (0..100, 10 bins)": text_histogram(s), "histogram": png or "-", "output": out})
        return {"checkpoint": ckpt, "inputs": n_in, "already_done": n_done, "scored": len(s), "failures": len(bad),
                "quantiles": quart, "mean": float(s.mean()) if len(s) else None, "histogram": png}


STAGE = Score
run = STAGE().run  # run(cfg) -> dict: the stage from Python



def text_histogram(s: pd.Series, bins: int = 10) -> str:
    counts, _ = np.histogram(s, bins=bins, range=(0, 100))
    return " ".join(str(c) for c in counts) if len(s) else "-"


def histogram(s: pd.Series, dest: str, name: str) -> str:
    from w2s.figures import pyplot, save_png

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(s, bins=20, range=(0, 100), color="#4477aa")
    ax.set(xlabel="score (0-100)", ylabel="videos", title=f"scores of {name} ({len(s)} videos)")
    fig.tight_layout()
    return save_png(fig, dest)

if __name__ == "__main__":  # the same as `python -m ray_jobs score`
    STAGE.main()
