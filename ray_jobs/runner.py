"""The stages' runner: one Ray connection, the quiet log, the pipeline (the whole method in one command), from the manifest to the last stage's student:

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

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import shutil
import tempfile
import time
import traceback

from ray_jobs import registry
from ray_jobs.console import console, quiet_output
from w2s import uri
from w2s.config import stage_name
from w2s.rundir import MissingInput, RunDir

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _log_target(run: RunDir, name: str) -> tuple[str, str]:
    """(local file to write, where it belongs under the run directory)."""
    dest = uri.join(run.logs(), f"{time.strftime('%Y%m%d-%H%M%S')}-{name}.log")
    local = uri.local_path(dest) if run.is_local else os.path.join(tempfile.mkdtemp(prefix="w2s-log-"),
                                                                    os.path.basename(dest))
    return local, dest


def _run(steps: list[registry.Step], cfg, skip=None) -> None:
    """Run the steps in order on one Ray connection; `skip(step)` -> a reason to skip it, or None."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, force=True)
    from ray_jobs.runtime import init_ray, reenter

    uses_ray, cwd = any(s.stage.needs_ray for s in steps), os.getcwd()
    if uses_ray:
        init_ray(cfg)
    try:
        for i, step in enumerate(steps, 1):
            reenter(cwd)  # a job's working_dir unpacked again under a running driver (runtime.reenter)
            why = skip(step) if skip else None
            if len(steps) > 1:
                console.print(f"-- step {i}/{len(steps)}: {step.name} ({step.stage.help})"
                              + (f": skipped, {why}" if why else ""))
            if not why:
                step.run(cfg)
    finally:
        if uses_ray:  # while the log is still open: the last worker lines Ray forwards land there
            import ray

            ray.shutdown()


def run_stages(steps: list[registry.Step], cfg, verbose: bool, name: str, skip=None, after=None) -> int:
    """Run `steps` with the quiet log (unless verbose); 0 ok, 2 a user error, 1 a crash.
    `after(cfg)` runs when every step succeeded (the pipeline's summary)."""
    run = RunDir(cfg.run_dir)
    local_log, dest = _log_target(run, name)
    with contextlib.ExitStack() as stack:
        if not verbose:
            if not run.is_local:  # the log is written here, copied under the run directory, removed
                stack.callback(shutil.rmtree, os.path.dirname(local_log), ignore_errors=True)
                stack.callback(lambda: uri.write_bytes(dest, pathlib.Path(local_log).read_bytes()))
            stack.enter_context(quiet_output(local_log))
            console.print(f"w2s: {name} on {run.root}; full log: {dest} (--verbose shows it here)")
        try:
            _run(steps, cfg, skip)
            if after:
                after(cfg)
            return 0
        except MissingInput as e:
            console.error(str(e))
        except SystemExit as e:
            if not isinstance(e.code, str):
                raise
            console.error(e.code)
        except ValueError as e:  # bad values met at run time (a config key, an input file)
            logging.getLogger("ray_jobs").exception("%s failed", name)
            console.error(f"{e} (traceback in {dest})" if not verbose else str(e))
        except Exception:
            console.error(f"{name} failed:\n{traceback.format_exc()}")
            return 1
        return 2


PER_STAGE_KEYS = ("train.name", "train.pairs", "train.init_from", "motion.pairs", "scoring.checkpoint")


def record_of(step: registry.Step, cfg, run: RunDir | None = None) -> str:
    """The stage.json a completed step leaves (the stage's own record path: one home)."""
    return step.record_path(cfg)


def first_forced(steps: list[registry.Step], from_step: str | None) -> int:
    """Index of the step --from names (len(steps) when none)."""
    if not from_step:
        return len(steps)
    for i, s in enumerate(steps):
        if from_step in (s.name, s.stage.name):
            return i
    raise ValueError(f"--from {from_step}: not a step of this pipeline; steps: {', '.join(s.name for s in steps)}")


def check_config(cfg) -> None:
    """Keys that name one stage's files cannot hold for every stage of a multi-stage pipeline."""
    if cfg.iterations < 2:
        return
    data = cfg.model_dump()
    bad = [k for k in PER_STAGE_KEYS if data[k.split(".")[0]][k.split(".")[1]] is not None]
    if bad:
        raise ValueError(f"{', '.join(bad)} name one stage's files: leave them null for a {cfg.iterations}-stage "
                         "pipeline (each stage N uses stage<N>), or run the stages one by one")


def run_pipeline(cfg, from_step: str | None, verbose: bool) -> int:
    """The whole method; ValueError for a bad --from or a config that cannot run every iteration."""
    evaluate = bool(cfg.eval.benchmarks or cfg.eval.proxy)
    steps = registry.pipeline(cfg.iterations, cfg.score_last_iteration, evaluate=evaluate)
    check_config(cfg)
    forced = first_forced(steps, from_step)

    def skip(step: registry.Step) -> str | None:
        if steps.index(step) >= forced:
            return None
        path = record_of(step, cfg)
        done = uri.read_json(path) if uri.exists(path) else None
        return f"completed {done.get('started', '')}" if done else None

    return run_stages(steps, cfg, verbose, "pipeline", skip=skip, after=summary)


def stage_rows(cfg, run: RunDir) -> list[dict]:
    """Per stage N: training pairs, training accuracy, held-out accuracy, mining figures."""
    rows = []
    for n in range(1, cfg.iterations + 1):
        name = stage_name(n)
        train = _json(run.stage_record("train_student", name))
        held = _json(run.stage_record("heldout", name))
        mine = _json(run.stage_record("mine_pairs", name)) if n > 1 else {}
        acc = held.get("accuracy") or {}
        rows.append({"stage": n, "pairs": train.get("usable"), "train_pair_acc": train.get("final_pair_acc"),
                     "heldout_direction": acc.get("direction"), "heldout_level": acc.get("level"),
                     "heldout_pairs": acc.get("pairs"), "gmad_pairs": mine.get("gmad_pairs"),
                     "synthetic_kept": mine.get("synthetic_kept"),
                     "misclassification_rate": mine.get("misclassification_rate"),
                     "train_s": train.get("train_seconds")})
    return rows


def _json(path: str) -> dict:
    return (uri.read_json(path) or {}) if uri.exists(path) else {}


def _f(x, pct=False) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f} %" if pct else (f"{x:.3f}" if isinstance(x, float) else str(x))


def summary(cfg) -> None:
    run = RunDir(cfg.run_dir)
    rows = stage_rows(cfg, run)
    uri.write_json(run.pipeline_record(), {"finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "stages": rows})
    table = {}
    for r in rows:
        mined = "-" if r["stage"] == 1 else (f"{_f(r['gmad_pairs'])} gMAD + {_f(r['synthetic_kept'])} synthetic "
                                             f"(student {r['stage'] - 1} misclassified {_f(r['misclassification_rate'], True)})")
        table[f"stage {r['stage']}"] = (
            f"held-out pair accuracy {_f(r['heldout_direction'], True)} direction / {_f(r['heldout_level'], True)} "
            f"level ({_f(r['heldout_pairs'])} pairs); trained on {_f(r['pairs'])} pairs, {_f(r['train_s'])} s; "
            f"mined: {mined}")
    console.summary(f"pipeline: {cfg.iterations} stages ({run.root})", {**table, "record": run.pipeline_record()})


