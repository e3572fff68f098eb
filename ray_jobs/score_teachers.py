"""Stage `score_teachers`: every configured teacher scores every selected video.

    python -m ray_jobs score_teachers --config configs/demo.yaml

Per teacher: read <run_dir>/select/selected.parquet with Ray Data -> CPU tasks
run the teacher's `prepare` (decode + its own sampling; small arrays out) ->
an actor pool runs `score_batch`, sized from the teacher's declared resources
(CPUs, GPUs, memory, batch size; `score.teachers[].num_gpus` etc. override them) -> <run_dir>/teacher_scores/<teacher>/*.parquet.
Resumable per teacher; bad videos go to failures/score_teachers.parquet.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from ray_jobs.console import console
from ray_jobs.teacher_pool import score_videos, teacher_resources
from w2s import rundir
from w2s.teachers import create_teacher

STAGE = "score_teachers"


def run_teacher(cfg, run_dir: rundir.RunDir, spec) -> dict:
    teacher = create_teacher(spec.name, **spec.params)
    out = run_dir.teacher_scores(spec.name)
    n_in, n_done = score_videos(cfg, spec, run_dir.selected(), out, f"{STAGE} {spec.name}")
    table = rundir.read_table(out)
    return {"teacher": spec.name, "scale": teacher.scale.name, "inputs": n_in, "already_done": n_done,
            "scored": int(table["error"].isna().sum()), "failed": int(table["error"].notna().sum()),
            "resources": asdict(teacher_resources(spec)), "table": table}


def run(cfg) -> dict:
    run_dir = rundir.RunDir(cfg.run_dir)
    run_dir.require(run_dir.selected(), "selected videos", "select")
    record = run_dir.record(STAGE, cfg.model_dump())
    results = [run_teacher(cfg, run_dir, spec) for spec in cfg.score.teachers]
    bad = pd.concat([r["table"][r["table"]["error"].notna()].assign(
        reason=lambda d, t=r["teacher"]: t + ": " + d["error"]) for r in results], ignore_index=True)
    run_dir.write_failures(STAGE, bad if len(bad) else None)
    per = [{k: v for k, v in r.items() if k != "table"} for r in results]
    info = record.finish(teachers=per, failures=len(bad))
    rows = {}
    for r in results:
        s = r["table"]["score"]
        rows[f"{r['teacher']} ({r['scale']})"] = (
            f"{r['scored']} scored, {r['failed']} failed, {r['already_done']} already done; "
            f"score mean {s.mean():.3f} std {s.std():.3f}")
    console.summary(f"stage {STAGE}: {run_dir.root}", {**rows, "duration": f"{info['duration_s']} s",
                                                       "output": run_dir.teacher_scores()})
    return info


if __name__ == "__main__":  # the same as `python -m ray_jobs score_teachers`
    from ray_jobs.cli import stage_main

    stage_main(STAGE)
