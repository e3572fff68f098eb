"""Stage `anchors`: the five anchor videos of a trained student, stored in its checkpoint.

    python -m ray_jobs anchors --config configs/demo.yaml [--iteration N]

The training videos of the checkpoint (every video in the pairs of stages 1..N, or
train.pairs, that the weak teachers scored) are cut into `scoring.num_anchors` equal-width intervals of their
ensemble teacher score (mu); in each, the video nearest the midpoint is the anchor
(the next nearest when it cannot be decoded). The anchors' key frames and motion
features and the anchor-vs-anchor comparisons (t = scoring.temperature_anchor) are
written next to the weights: student/stage<N>/anchors.json + anchors/*.npz, so
the checkpoint directory scores on its own (`score` stage, `w2s score`, the Serve
scorer). The model runs in one Ray task (on a GPU when the cluster has one).
Re-training the checkpoint removes its anchors; this stage then builds them again.
"""

from __future__ import annotations

from ray_jobs.base import Stage
from ray_jobs.console import console
from ray_jobs.runtime import ray_args
from w2s import rundir, uri
from w2s.scoring.anchors import candidates


def build(ckpt: str, mu, kwargs: dict) -> dict:
    """Ray task body: choose + compute + store the anchors; a summary of them."""
    from w2s.scoring.build import build_anchors

    a = build_anchors(ckpt, mu, **kwargs)
    return {"anchors": [{"uri": x.uri, "mu": x.mu, "interval": x.interval} for x in a.anchors],
            "matrix": a.matrix, "skipped": a.source.get("skipped", []), "random_init": a.motion_random_init}


def training_scores(cfg, run_dir: rundir.RunDir):
    """mu of the checkpoint's training videos that every teacher scored: train.pairs, or the pairs
    of stages 1..N (a stage-N student was trained on all of them, one stage after the other)."""
    if cfg.train.pairs:
        tables = [run_dir.read_pairs(cfg.train.pairs, columns=["first_uri", "second_uri"])]
    else:
        tables = [run_dir.read_pairs(stage=s, columns=["first_uri", "second_uri"]) for s in range(1, cfg.iteration + 1)]
    videos = {u for t in tables for u in (*t["first_uri"], *t["second_uri"])}
    ens = run_dir.read_ensemble([t.name for t in cfg.teachers])
    return ens.loc[ens.index.isin(videos), "mu"]


class Anchors(Stage):
    name, iterative, writes_failures = "anchors", True, False

    def check(self, ctx):
        ckpt = ctx.cfg.scoring.checkpoint or ctx.run_dir.student(ctx.name)
        ctx.run_dir.require(uri.join(ckpt, "config.json"), f"exported student {ctx.name!r}", "train_student")

    def execute(self, ctx):
        import ray

        cfg, run_dir, sc, name = ctx.cfg, ctx.run_dir, ctx.cfg.scoring, ctx.name
        ckpt = sc.checkpoint or run_dir.student(name)
        mu = training_scores(cfg, run_dir)
        candidates(mu, sc.num_anchors)  # an empty interval: a clear error here, before any work
        kwargs = {"max_frames": cfg.train.max_frames, "frame_sampling": cfg.train.frame_sampling,
                  "motion_size": cfg.motion.size, "num_anchors": sc.num_anchors, "link": sc.link,
                  "temperature_test": sc.temperature_test, "temperature_anchor": sc.temperature_anchor,
                  "motion_checkpoint": cfg.motion.checkpoint, "teachers": [t.name for t in cfg.teachers],
                  "source": {"run_dir": run_dir.root, "checkpoint": name,
                             "pairs": cfg.train.pairs or run_dir.pairs(cfg.iteration)}}
        task = ray.remote(build).options(**ray_args(sc, actor=True), max_retries=0)
        console.print(f"  choosing {sc.num_anchors} anchors among {len(mu)} training videos and comparing them ...")
        out = ray.get(task.remote(ckpt, mu, kwargs))
        ctx.rows.update({
            "training videos with teacher scores": len(mu), "mu range": f"[{mu.min():.3f}, {mu.max():.3f}]",
            **{f"anchor {i} (mu {a['mu']:+.3f})": a["uri"] for i, a in enumerate(out["anchors"])},
            "undecodable candidates skipped": len(out["skipped"]),
            "anchor matrix (c of column first, row second)": _matrix(out["matrix"]),
            "output": rundir.anchors_file(ckpt)})
        return {"checkpoint": ckpt, "training_videos": len(mu), **out}


STAGE = Anchors
run = STAGE().run  # run(cfg) -> dict: the stage from Python



def _matrix(m) -> str:
    return " | ".join(" ".join(f"{v:.2f}" for v in row) for row in m)

if __name__ == "__main__":  # the same as `python -m ray_jobs anchors`
    STAGE.main()
