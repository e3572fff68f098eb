"""Stage `score_teachers`: every configured teacher scores every selected video.

    python -m ray_jobs score_teachers --config configs/demo.yaml

Per teacher: read <run_dir>/select/selected.parquet with Ray Data -> CPU tasks
run the teacher's `prepare` (decode + its own sampling; small arrays out) ->
an actor pool runs `score_batch`, sized from the teacher's declared resources
(CPUs, GPUs, memory, batch size; `teachers[].num_gpus` etc. override them) -> <run_dir>/teacher_scores/<teacher>/*.parquet.
Resumable per teacher; bad videos go to failures/score_teachers.parquet.
"""

from __future__ import annotations

from dataclasses import asdict

from ray_jobs.base import Stage
from ray_jobs.teacher_pool import score_videos, teacher_resources
from w2s import rundir
from w2s.teachers import create_teacher


def run_teacher(cfg, run_dir: rundir.RunDir, spec) -> dict:
    teacher = create_teacher(spec.name, **spec.params)
    out = run_dir.teacher_scores(spec.name)
    n_in, n_done = score_videos(cfg, spec, run_dir.selected(), out, f"score_teachers {spec.name}")
    table, bad = rundir.read_summary(out, ["score"])
    return {"teacher": spec.name, "scale": teacher.scale.name, "inputs": n_in, "already_done": n_done,
            "scored": int(table["error"].isna().sum()), "failed": len(bad),
            "resources": asdict(teacher_resources(spec)), "table": table, "bad": bad}


class ScoreTeachers(Stage):
    name = "score_teachers"

    def check(self, ctx):
        ctx.run_dir.require(ctx.run_dir.selected(), "selected videos", "select")

    def execute(self, ctx):
        results = [run_teacher(ctx.cfg, ctx.run_dir, spec) for spec in ctx.cfg.teachers]
        for r in results:
            t = r["bad"]
            ctx.fail(t.assign(reason=r["teacher"] + ": " + t["error"]))
            s = r["table"]["score"]
            ctx.rows[f"{r['teacher']} ({r['scale']})"] = (
                f"{r['scored']} scored, {r['failed']} failed, {r['already_done']} already done; "
                f"score mean {s.mean():.3f} std {s.std():.3f}")
        ctx.rows["output"] = ctx.run_dir.teacher_scores()
        return {"teachers": [{k: v for k, v in r.items() if k not in ("table", "bad")} for r in results], "failures": ctx.failed}


STAGE = ScoreTeachers
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs score_teachers`
    STAGE.main()
