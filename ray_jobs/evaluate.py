"""Stage `evaluate`: the students (and the weak teachers) on VQA benchmarks: SRCC, KRCC, PLCC.

    python -m ray_jobs evaluate --config configs/paper.yaml      (= python -m ray_jobs.evaluate, w2s evaluate)
    w2s evaluate --config configs/paper.yaml --set eval.checkpoints=[stage3] --set eval.teachers=false

Loads every benchmark of `eval.benchmarks` from the dataset's own files (w2s.benchmarks:
the paper's ten, or any uri,mos CSV) and, with `eval.proxy`, the demo's proxy built from
the held-out renders. Every distinct video is scored once per model through the `score`
stage's machinery (Ray Data decode tasks -> an actor pool of Scorers; students with the
same sampling share one decode pass; resumable: scored videos are skipped on a rerun): each student of `eval.checkpoints` (default: the run's
student/stage1..stages with anchors) and, with `eval.teachers`, each weak teacher.
Per benchmark and model: SRCC, KRCC, PLCC raw and after the 4-parameter logistic fit
(METHOD.md section 6); overall in-domain / OOD rows are the video-weighted means.
Failed videos are left out of the metrics, counted, and listed in failures/evaluate.parquet.

Writes eval/scores/model=<model>/ (raw), eval/<model>/predictions.parquet (model, benchmark,
domain, uri, mos, prediction, error, group), eval/<model>/summary.parquet, and
evaluate/summary.parquet + summary.md (every model) + stage.json; prints the table.
"""

from __future__ import annotations

import pandas as pd

from ray_jobs.base import Stage
from ray_jobs.console import console
from ray_jobs.scorer_pool import score_many
from ray_jobs.teacher_pool import score_videos
from w2s import rundir, uri
from w2s.benchmarks import domain_of, load, load_csv, miniature
from w2s.benchmarks.proxy import NOTE, proxy_from_pairs
from w2s.config import stage_name
from w2s.evaluation import PREDICTION_COLUMNS, markdown, summarize

PROXY = "proxy"


def load_benchmarks(cfg, run_dir: rundir.RunDir) -> list[tuple[str, str, pd.DataFrame]]:
    """(name, domain, rows) of every benchmark to score; a bad layout fails here, before any scoring."""
    out = [(b.name, domain_of(b.name, b.domain), load(b.name, b.root, b.label_file, b.csv, b.limit, cfg.eval.seed))
           for b in cfg.eval.benchmarks]
    if cfg.eval.proxy:
        proxy = proxy_from_pairs(run_dir.read_pairs(stage="heldout"))
        if proxy.empty:
            console.warn("eval.proxy: pairs/heldout is empty (pairs.heldout_sources is 0, or no pool clip was "
                         "left outside the subset): no proxy benchmark")
        else:
            path = run_dir.evaluate_file("proxy.csv")
            uri.write_bytes(path, proxy.to_csv(index=False).encode())
            out.append((PROXY, PROXY, load_csv(path)))
    if not out:
        raise SystemExit("evaluate: no benchmark: set eval.benchmarks (docs/evaluation.md: Benchmarks) or eval.proxy")
    names = [n for n, _, _ in out]
    if len(set(names)) != len(names):
        raise SystemExit(f"evaluate: benchmark names must be distinct: {names}")
    return out


def students(cfg, run_dir: rundir.RunDir) -> list[tuple[str, str]]:
    """(name, checkpoint dir) of every student to evaluate."""
    if cfg.eval.checkpoints is None:
        found = [(stage_name(n), run_dir.student(stage_name(n))) for n in range(1, cfg.iterations + 1)]
        found = [(n, c) for n, c in found if uri.exists(rundir.anchors_file(c))]
        if not found and not cfg.eval.teachers:
            run_dir.require(run_dir.anchors(stage_name(1)), "a student with anchors", "anchors")
        return found
    out = []
    for c in cfg.eval.checkpoints:
        ckpt = c if "/" in c else run_dir.student(c)
        run_dir.require(rundir.anchors_file(ckpt), f"anchors of checkpoint {c!r}", "anchors")
        out.append((ckpt.rstrip("/").rsplit("/", 1)[-1], ckpt))
    return out


def predictions(model: str, scores: pd.DataFrame, benches) -> pd.DataFrame:
    """Every benchmark row with this model's prediction (NaN + the reason where it failed)."""
    s = scores[["uri", "score", "error"]] if len(scores) else pd.DataFrame(columns=["uri", "score", "error"])
    parts = []
    for name, domain, df in benches:
        m = df.merge(s, on="uri", how="left")
        m["error"] = m["error"].where(m["score"].notna() | m["error"].notna(), "not scored")
        parts.append(m.rename(columns={"score": "prediction"}).assign(model=model, benchmark=name, domain=domain))
    return pd.concat(parts, ignore_index=True)[[*PREDICTION_COLUMNS, "group"]]


class Evaluate(Stage):
    name = "evaluate"

    def check(self, ctx):
        ctx.benches = load_benchmarks(ctx.cfg, ctx.run_dir)  # a bad layout fails here, before any scoring
        ctx.models = students(ctx.cfg, ctx.run_dir)

    def execute(self, ctx):
        return evaluate(ctx, ctx.benches, ctx.models)


def score_models(cfg, run_dir: rundir.RunDir, models, videos_path: str) -> list[tuple[str, str, str]]:
    """Every student (students of one sampling share a decode pass) and, with eval.teachers, every
    weak teacher scores the benchmark videos: (name, kind, source) of each."""
    from w2s.scoring.anchors import AnchorSet

    by_sampling: dict[str, tuple] = {}
    for name, ckpt in models:
        sampling = AnchorSet.load(ckpt, with_inputs=False).sampling
        by_sampling.setdefault(repr(sampling), (sampling, {}))[1][name] = ckpt
    for sampling, ckpts in by_sampling.values():
        score_many(cfg, videos_path, ckpts, run_dir.eval_scores(), sampling, f"evaluate {', '.join(ckpts)}")
    done = [(name, "student", ckpt) for name, ckpt in models]
    if cfg.eval.teachers:
        for spec in cfg.teachers:
            score_videos(cfg, spec, videos_path, run_dir.eval_scores(spec.name), f"evaluate {spec.name}")
            done.append((spec.name, "teacher", spec.name))
    return done


def evaluate(ctx, benches, models) -> dict:
    cfg, run_dir = ctx.cfg, ctx.run_dir
    videos = pd.concat([df[["uri"]] for _, _, df in benches]).drop_duplicates(ignore_index=True)
    videos_path = uri.write_parquet(run_dir.evaluate_file("videos.parquet"), videos)
    console.print(f"evaluate: {len(videos)} videos in {len(benches)} benchmarks "
                  f"({', '.join(f'{n}: {len(df)}' for n, _, df in benches)})")
    done = score_models(cfg, run_dir, models, videos_path)
    preds, summaries = [], []
    for name, _, _ in done:
        p = predictions(name, rundir.read_table(run_dir.eval_scores(name)), benches)
        uri.write_parquet(run_dir.eval_predictions(name), p)
        s = summarize(p)
        uri.write_parquet(run_dir.eval_summary(name), s)
        preds.append(p)
        summaries.append(s)
    summary = pd.concat(summaries, ignore_index=True)
    table = markdown(summary)
    uri.write_parquet(run_dir.eval_summary(), summary)
    uri.write_bytes(run_dir.evaluate_file("summary.md"), (table + "\n").encode())
    bad = pd.concat(preds, ignore_index=True)
    bad = bad[bad["error"].notna()].drop_duplicates(["model", "uri"])
    ctx.fail(bad.assign(reason=bad["model"] + ": " + bad["error"]))
    proxy_note = NOTE if any(n == PROXY for n, _, _ in benches) else None
    ctx.rows.update({
        "benchmarks": ", ".join(f"{n} ({d}, {len(df)} videos)" for n, d, df in benches),
        "models": ", ".join(f"{n} ({k})" for n, k, _ in done), "failed videos": len(bad),
        "table": run_dir.evaluate_file("summary.md")})
    ctx.after = lambda: _print_tables(table, proxy_note)
    return {"benchmarks": [{"name": n, "domain": d, "videos": len(df)} for n, d, df in benches],
            "models": [{"name": n, "kind": k, "source": src} for n, k, src in done], "videos": len(videos),
            "failures": len(bad), "summary": summary.to_dict(orient="records"), "proxy_note": proxy_note}


def _print_tables(table: str, proxy_note: str | None) -> None:
    console.print(table)
    if proxy_note:
        console.print(f"NOTE: {NOTE}.")
    table1 = miniature.load()
    if table1 is not None:
        console.print(f"weak-to-strong in miniature ({miniature.path()}; {miniature.NOTE}):\n"
                      + miniature.markdown(table1))


STAGE = Evaluate
run = STAGE().run  # run(cfg) -> dict: the stage from Python

if __name__ == "__main__":  # the same as `python -m ray_jobs evaluate`
    STAGE.main()
