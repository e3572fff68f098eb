"""Synthetic renders as Ray Data tasks, shared by `make_pairs` (stage 1 and the held-out
pairs) and `mine_pairs` (fresh renders for the misclassified check): every level of each
family for each source, written under <run_dir>/media/ and reused when a readable file is
already there (a rerun renders nothing twice)."""

from __future__ import annotations

import os

import pandas as pd

from ray_jobs.progress import Tracker, tick
from w2s import rundir, uri
from w2s.video import VideoDecodeError
from w2s.video.distort import FAMILIES, distort, family

COLUMNS = ["source", "family", "group", "level", "seed", "uri", "error"]


def render_row(row: dict, run_root: str, preset: str | None, max_short_side: int | None,
               progress=None) -> dict:
    """Render one (source, family, level); reuse the file if a readable one exists."""
    from w2s.video import probe

    out = uri.local_path(rundir.RunDir(run_root).rendered(row["family"], row["source"], int(row["level"])))
    error = None
    try:
        try:
            probe(out)
        except VideoDecodeError:
            tmp = out + ".part.mp4"
            distort(row["source"], tmp, row["family"], int(row["level"]), seed=int(row["seed"]),
                    preset=preset if row["family"] == "h265" else None, max_short_side=max_short_side)
            os.replace(tmp, out)
    except (VideoDecodeError, ValueError, OSError) as e:
        error = getattr(e, "reason", str(e))
    tick(progress)
    return {**row, "uri": out, "error": error}


def render_synthetic(cfg, sources: list[str], families: list[str] | None = None,
                     label: str = "renders") -> pd.DataFrame:
    """Every level of every family (default: pairs.families) for each source: rows of COLUMNS."""
    import ray.data

    run_dir = rundir.RunDir(cfg.run_dir)
    if not run_dir.is_local:
        raise SystemExit("synthetic rendering writes media files: use a shared local/NFS run_dir")
    families = list(families or cfg.pairs.families)
    for f in families:
        family(f)  # unknown family -> clear error before any work
    jobs = [{"source": s, "family": f, "group": family(f).group, "level": lv, "seed": cfg.pairs.seed}
            for s in sources for f in families for lv in range(1, FAMILIES[f].num_levels + 1)]
    if not jobs:
        return pd.DataFrame(columns=COLUMNS)
    with Tracker(len(jobs), label, "videos") as progress:
        ds = ray.data.from_items(jobs).map(render_row, num_cpus=cfg.pairs.render_num_cpus, fn_kwargs={
            "run_root": run_dir.root, "preset": cfg.pairs.h265_preset,
            "max_short_side": cfg.pairs.max_short_side, "progress": progress.handle})
        return ds.to_pandas()[COLUMNS]
