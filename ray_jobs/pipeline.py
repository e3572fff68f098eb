"""The whole method in one command, from the manifest to the last stage's student:

    python -m ray_jobs.pipeline --config configs/demo.yaml [--from STEP] [--set iterations=3]
    python -m ray_jobs all      --config ...      w2s run all --config ...      (the same)

metrics, select, score_teachers, make_pairs, then for each stage N = 1..`stages`:
mine_pairs (N > 1: gMAD + misclassified synthetic pairs with the stage N-1 student),
cache_motion (the stage's new videos only), train_student (stage N > 1 starts from
student N-1), anchors, heldout (pair accuracy on never-trained pairs) and score (the pool
scores the next stage mines from; the last stage's only with `score_last_iteration`);
last, `evaluate` (every stage's student and the weak teachers on `eval.benchmarks`,
and the demo's proxy with `eval.proxy`) when either is configured. A step whose stage.json exists completed earlier and is skipped, so a rerun after a
crash goes on where it stopped; `--from STEP` (a stage name, or e.g. train_student@2)
runs that step and every later one again (row-resumable stages keep their rows; to
recompute from nothing, delete that step's output). Ends with a table per stage and
writes it to <run_dir>/pipeline.json.
"""

import sys

from ray_jobs.cli import main

if __name__ == "__main__":  # the same as `python -m ray_jobs all`
    sys.exit(main(sys.argv[1:], prog="python -m ray_jobs.pipeline", pipeline=True))
