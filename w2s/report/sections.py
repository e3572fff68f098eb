"""The report's sections, each built from the run directory alone (through RunDir). A section
whose stage has not run returns None and is left out."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd

from w2s import rundir, uri
from w2s.report.page import Section

LABELS = ["superior", "better", "similar", "worse", "inferior"]


class Ctx:
    """The run directory, where the report goes, and figure saving."""

    def __init__(self, run: rundir.RunDir, out: str):
        self.run, self.out = run, out

    def save(self, fig, name: str) -> str:
        from w2s.figures import save_png

        save_png(fig, uri.join(self.out, name))
        return name

    def json(self, path: str) -> dict | None:
        return uri.read_json(path) if uri.exists(path) else None


def _plt():
    from w2s.figures import pyplot

    return pyplot()


def _scalars(d: dict, limit: int = 6) -> str:
    skip = {"duration_s", "w2s_version", "stage", "started", "config"}
    items = [(k, v) for k, v in d.items() if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k} {round(v, 4) if isinstance(v, float) else v}" for k, v in items[:limit])


def steps(ctx: Ctx) -> list[tuple[str, str | None]]:
    """(stage, student name or None) of every step the run has a record of, in pipeline order."""
    once = [("metrics", None), ("select", None), ("score_teachers", None), ("make_pairs", None)]
    names = ctx.run.students()
    scored = uri.list_dirs(ctx.run.path("scores"))
    per = [(s, n) for n in [*names, *(x for x in scored if x not in names)]
           for s in ("mine_pairs", "cache_motion", "train_student", "anchors", "heldout", "score")]
    return [(s, n) for s, n in [*once, *per, ("evaluate", None)] if uri.exists(ctx.run.stage_record(s, n))]


def overview(ctx: Ctx) -> Section | None:
    rows = []
    for stage, name in steps(ctx):
        d = ctx.json(ctx.run.stage_record(stage, name)) or {}
        rows.append({"step": stage + (f"@{name}" if name else ""), "started": str(d.get("started", "")).replace("T", " "),
                     "duration (s)": float(d.get("duration_s", np.nan)), "figures": _scalars(d)})
    fails = []
    for f in uri.list_files(ctx.run.path("failures"), ".parquet"):
        stage = f.rsplit("/", 1)[-1].removesuffix(".parquet")
        t = uri.read_parquet(ctx.run.failures(stage))
        if len(t):
            top = t["reason"].astype(str).str.slice(0, 90).value_counts().head(3)
            fails.append({"stage": stage, "failed": len(t),
                          "most common reasons": "; ".join(f"{r} ({c})" for r, c in top.items())})
    if not rows and not fails:
        return None
    sec = Section("overview", "Stages: durations, counts, failures")
    if rows:
        total = sum(r["duration (s)"] for r in rows if np.isfinite(r["duration (s)"]))
        sec.table(pd.DataFrame(rows), 1).text(f"{len(rows)} steps recorded, {total / 60:.1f} min in all.")
    sec.h3("Failures")
    if fails:
        sec.table(pd.DataFrame(fails))
    else:
        sec.text("No failed videos in any stage.")
    pipe = ctx.json(ctx.run.pipeline_record())
    if pipe and pipe.get("stages"):
        sec.h3("Per stage of the method (pipeline.json)").table(pd.DataFrame(pipe["stages"]))
    return sec


def subset(ctx: Ctx) -> Section | None:
    from w2s.metrics import METRIC_NAMES
    from w2s.selection import bin_codes, histograms, tv_distance

    d = ctx.json(ctx.run.stage_record("select"))
    if d is None:
        return None
    pool = ctx.run.read_metrics()
    sel = uri.read_parquet(ctx.run.selected(), columns=["uri"])
    ref_path = ctx.run.select_reference() if uri.exists(ctx.run.select_reference()) else d.get("reference")
    ref = uri.read_parquet(ref_path, columns=list(METRIC_NAMES)) if ref_path and uri.exists(ref_path) else None
    bins = int(d.get("config", {}).get("select", {}).get("bins", 7))
    cand = pool[list(METRIC_NAMES)].to_numpy(float)
    lo, hi = cand.min(axis=0), cand.max(axis=0)
    sets = {"pool": cand, "selected subset": pool[pool["uri"].isin(set(sel["uri"]))][list(METRIC_NAMES)].to_numpy(float)}
    if ref is not None:
        r = ref.to_numpy(float)
        sets["reference"] = r[np.isfinite(r).all(axis=1)]
    hists = {k: histograms(bin_codes(v, lo, hi, bins), bins) for k, v in sets.items()}
    plt = _plt()
    fig, axes = plt.subplots(3, 3, figsize=(12, 8.4))
    colors = {"pool": "#999", "selected subset": "#39e", "reference": "#222"}
    x, w = np.arange(bins), 0.8 / len(hists)
    for j, (ax, name) in enumerate(zip(axes.ravel(), METRIC_NAMES, strict=True)):
        for i, (k, h) in enumerate(hists.items()):
            ax.bar(x + (i - (len(hists) - 1) / 2) * w, h[j], w, label=k, color=colors[k])
        ax.set_title(name)
        ax.set_xticks(x)
        if j == 0:
            ax.legend(fontsize=7)
    fig.suptitle(f"metric histograms ({bins} bins over the pool's range): pool ({len(cand)}) vs selected "
                 f"({len(sets['selected subset'])})" + (f" vs reference ({len(sets['reference'])})" if ref is not None else ""))
    fig.tight_layout()
    sec = Section("subset", "Pool, selected subset and reference: the nine metrics").image(
        ctx.save(fig, "metrics_histograms.png"), "metric histograms")
    if ref is not None:
        tv = pd.DataFrame({"metric": list(METRIC_NAMES),
                           "TV pool vs reference": tv_distance(hists["pool"], hists["reference"]),
                           "TV selected vs reference": tv_distance(hists["selected subset"], hists["reference"])})
        sec.table(tv)
    else:
        sec.text("The reference metrics are not reachable from here: pool vs subset only.", "note")
    sec.text(f"Mean TV distance to the reference: selected {d.get('tv_selected')}, random subsets "
             f"{d.get('tv_random')} (select stage, {d.get('solver_status', '')}).")
    return sec


def teachers(ctx: Ctx) -> Section | None:
    names = ctx.run.teachers()
    scores = {}
    for t in names:
        try:
            scores[t] = ctx.run.read_teacher_scores(t)
        except rundir.MissingInput:
            continue
    if not scores:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(scores), figsize=(4 * len(scores), 3), squeeze=False)
    for ax, (t, s) in zip(axes[0], scores.items(), strict=True):
        ax.hist(s, bins=20, color="#4477aa")
        ax.set(title=f"{t} ({len(s)} videos)", xlabel="score (higher = better)", ylabel="videos")
    fig.tight_layout()
    sec = Section("teachers", "Weak teachers").image(ctx.save(fig, "teacher_scores.png"), "teacher scores")
    pairs = list(itertools.combinations(scores, 2))
    if pairs:
        from scipy import stats

        fig, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 3.6), squeeze=False)
        for ax, (a, b) in zip(axes[0], pairs, strict=True):
            j = pd.concat([scores[a], scores[b]], axis=1, join="inner")
            ax.scatter(j[a], j[b], s=10, alpha=0.7)
            rho = stats.spearmanr(j[a], j[b]).statistic if len(j) > 2 else float("nan")
            ax.set(xlabel=a, ylabel=b, title=f"{a} vs {b}: SRCC {rho:.3f} ({len(j)} videos)")
        fig.tight_layout()
        sec.image(ctx.save(fig, "teacher_scatter.png"), "teacher vs teacher")
    return sec


def pairs(ctx: Ctx) -> Section | None:
    sets = ctx.run.pair_sets()
    tables = {}
    for s in sets:
        p = uri.read_parquet(ctx.run.pairs(int(s[5:]) if s.startswith("stage") and s[5:].isdigit() else s))
        if len(p):
            tables[s] = p
    if not tables:
        return None
    counts = pd.DataFrame({s: p["label"].value_counts() for s, p in tables.items()}).reindex(LABELS).fillna(0)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(tables), 3.4))
    x, w = np.arange(len(tables)), 0.8 / len(LABELS)
    for i, lab in enumerate(LABELS):
        frac = counts.loc[lab] / counts.sum()
        ax.bar(x + (i - 2) * w, frac, w, label=lab)
    ax.set_xticks(x, list(tables))
    ax.set(ylabel="share of pairs", title="label balance per pair set")
    ax.legend(fontsize=7)
    fig.tight_layout()
    sec = Section("pairs", "Pairs: label balance per stage").image(ctx.save(fig, "label_balance.png"), "labels")
    kinds = pd.DataFrame({s: p["kind"].value_counts() for s, p in tables.items()}).fillna(0).astype(int)
    sec.table(pd.concat([counts.astype(int), kinds]).rename_axis("label / kind").reset_index())
    return sec


def training(ctx: Ctx) -> Section | None:
    from w2s.student.curves import plot_curves

    sec = Section("training", "Training curves per stage")
    for name in ctx.run.students():
        h = uri.read_parquet(ctx.run.curves(name))
        if h.empty:
            continue
        d = ctx.json(ctx.run.stage_record("train_student", name)) or {}
        sec.h3(f"{name}: {len(h)} steps, {d.get('duration_s', '?')} s; {_scalars(d, 5)}")
        plot_curves(h, uri.join(ctx.out, f"curves_{name}.png"), title=f"student {name}")
        sec.image(f"curves_{name}.png", f"training curves {name}")
    return sec if sec.parts else None


def anchors(ctx: Ctx) -> Section | None:
    import io

    from PIL import Image

    sec = Section("anchors", "Anchors of each student")
    for name in ctx.run.students():
        meta = ctx.json(ctx.run.anchors(name))
        if not meta:
            continue
        scores = rundir.read_table(ctx.run.scores(name))
        by_uri = dict(zip(scores["uri"], scores["score"], strict=True)) if len(scores) else {}
        sec.h3(f"{name}: {len(meta['anchors'])} anchors (mu: the anchor's quality on the MAP scale)")
        for i, a in enumerate(meta["anchors"]):
            cap = f"#{i} {a['uri'].rsplit('/', 1)[-1]} mu {a['mu']:.2f}"
            if a["uri"] in by_uri:
                cap += f", score {by_uri[a['uri']]:.1f}"
            npz = uri.join(ctx.run.student(name), a.get("file", ""))
            if a.get("file") and uri.exists(npz):
                with uri.open_binary(npz) as f:
                    frames = np.load(io.BytesIO(f.read()))["frames"]
                buf = io.BytesIO()
                Image.fromarray(np.asarray(frames[0], np.uint8)).save(buf, format="PNG")
                img = f"anchor_{name}_{i}.png"
                uri.write_bytes(uri.join(ctx.out, img), buf.getvalue())
                sec.figure(img, cap)
            else:
                sec.text(cap)
    return sec if sec.parts else None


def scores(ctx: Ctx) -> Section | None:
    tables = {n: rundir.read_table(ctx.run.scores(n)) for n in uri.list_dirs(ctx.run.path("scores"))}
    tables = {n: t for n, t in tables.items() if len(t)}
    if not tables:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    rows = []
    for n, t in tables.items():
        s = rundir.ok_rows(t)["score"].dropna()
        ax.hist(s, bins=20, range=(0, 100), alpha=0.55, label=f"{n} ({len(s)} videos)")
        rows.append({"checkpoint": n, "videos": len(s), "mean": float(s.mean()), "median": float(s.median()),
                     "std": float(s.std())})
    ax.set(xlabel="score (0-100)", ylabel="videos", title="pool score distribution")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return Section("scores", "Scores of the pool").image(ctx.save(fig, "pool_scores.png"), "scores").table(
        pd.DataFrame(rows), 2)


def evaluation(ctx: Ctx) -> Section | None:
    sec = Section("evaluation", "Evaluation")
    held = []
    for name in ctx.run.students():
        d = ctx.json(ctx.run.stage_record("heldout", name))
        if d and d.get("accuracy"):
            held.append({"student": name, "pairs": d.get("pairs"), "direction": d["accuracy"].get("direction"),
                         "level": d["accuracy"].get("level")})
    if held:
        sec.h3("Held-out synthetic pairs: pair accuracy").table(pd.DataFrame(held))
    summary = uri.read_parquet(ctx.run.eval_summary())
    if len(summary):
        sec.h3("Benchmarks: SRCC / KRCC / PLCC (logistic-fitted) / PLCC raw").table(summary)
        d = ctx.json(ctx.run.stage_record("evaluate")) or {}
        if d.get("proxy_note"):
            sec.text(d["proxy_note"] + ".", "note")
        preds = pd.concat([uri.read_parquet(ctx.run.eval_predictions(m)) for m in summary["model"].unique()
                           if uri.exists(ctx.run.eval_predictions(m))], ignore_index=True)
        if len(preds):
            sec.image(_scatter(ctx, preds), "prediction vs MOS")
    return sec if sec.parts else None


def _scatter(ctx: Ctx, preds: pd.DataFrame) -> str:
    plt = _plt()
    models, benches = list(preds["model"].unique()), list(preds["benchmark"].unique())
    fig, axes = plt.subplots(len(benches), len(models), figsize=(3.2 * len(models), 3 * len(benches)),
                             squeeze=False)
    for (i, b), (j, m) in itertools.product(enumerate(benches), enumerate(models)):
        g = preds[(preds["benchmark"] == b) & (preds["model"] == m) & preds["prediction"].notna()]
        ax = axes[i][j]
        ax.scatter(g["prediction"], g["mos"], s=9, alpha=0.7)
        ax.set_title(f"{m} on {b} ({len(g)})", fontsize=9)
        ax.set(xlabel="prediction", ylabel="MOS")
    fig.tight_layout()
    return ctx.save(fig, "eval_scatter.png")


def weak_to_strong(ctx: Ctx) -> Section | None:
    """bench/w2s.py's miniature Table 1, when its result exists (w2s.benchmarks.miniature)."""
    from w2s.benchmarks import miniature

    result = miniature.load()
    if result is None or not uri.exists(ctx.run.stage_record("evaluate")):  # it goes with a run's evaluation
        return None
    sec = Section("weak_to_strong", "Weak-to-strong in miniature (bench/w2s.py)")
    sec.text(f"{miniature.NOTE}; result {miniature.path()}" + ("" if result.get("complete") else
                                                               " (incomplete: the bench was stopped)"), "note")
    sec.table(miniature.table(result))
    fig = os.path.join(os.path.dirname(miniature.path()), "w2s.png")
    if result.get("figure") and os.path.exists(fig):
        with open(fig, "rb") as fh:
            uri.write_bytes(uri.join(ctx.out, "w2s_table1.png"), fh.read())
        sec.image("w2s_table1.png", "SRCC per row, in-domain vs OOD (whiskers: min-max over seeds)")
    return sec


SECTIONS = [overview, subset, teachers, pairs, training, anchors, scores, evaluation, weak_to_strong]
