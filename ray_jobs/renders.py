"""Synthetic renders as Ray Data tasks, shared by `make_pairs` (stage 1 and the held-out
pairs) and `mine_pairs` (fresh renders for the misclassified check): every level of each
family for each source, written under <run_dir>/media/ and reused when a readable file is
already there (a rerun renders nothing twice). On an object-store run directory (s3://...)
each task encodes into its own local temp file and uploads it: every node reads the renders
from the store, no shared disk is needed."""

from __future__ import annotations

import os
import tempfile

import pandas as pd

from ray_jobs.progress import Tracker, tick
from ray_jobs.runtime import ray_args
from w2s import rundir, uri
from w2s.video import VideoDecodeError
from w2s.video.distort import FAMILIES, distort, family

COLUMNS = ["source", "family", "group", "level", "seed", "uri", "error"]


def render_row(row: dict, run_root: str, preset: str | None, max_short_side: int | None,
               progress=None, lossless_preset: str | None = None) -> dict:
    """Render one (source, family, level); reuse the file if a readable one exists."""
    from w2s.video import probe

    out = rundir.RunDir(run_root).rendered(row["family"], row["source"], int(row["level"]))
    error = None
    try:
        try:
            probe(out)
        except VideoDecodeError:
            _render(row, out, preset, max_short_side, lossless_preset)
    except (VideoDecodeError, ValueError, OSError) as e:
        error = getattr(e, "reason", str(e))
    tick(progress)
    return {**row, "uri": out, "error": error}


def _render(row: dict, out: str, preset: str | None, max_short_side: int | None,
            lossless_preset: str | None = None) -> None:
    """Encode into a temp file, then move it into place (local) or upload it (object store): a
    cut-short render never stands at `out`."""
    local = uri.is_local(out)
    if local:
        os.makedirs(os.path.dirname(uri.local_path(out)), exist_ok=True)
    tmp_dir = os.path.dirname(uri.local_path(out)) if local else None
    fd, tmp = tempfile.mkstemp(suffix=".part.mp4", dir=tmp_dir)
    os.close(fd)
    try:
        distort(row["source"], tmp, row["family"], int(row["level"]), seed=int(row["seed"]),
                preset=preset if row["family"] == "h265" else None, max_short_side=max_short_side,
                lossless_preset=lossless_preset)
        if local:
            os.replace(tmp, uri.local_path(out))
        else:
            uri.upload_file(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def render_synthetic(cfg, sources: list[str], families: list[str] | None = None,
                     label: str = "renders") -> pd.DataFrame:
    """Every level of every family (default: pairs.families) for each source: rows of COLUMNS."""
    import ray.data

    run_dir = rundir.RunDir(cfg.run_dir)
    families = list(families or cfg.pairs.families)
    for f in families:
        family(f)  # unknown family -> clear error before any work
    jobs = [{"source": s, "family": f, "group": family(f).group, "level": lv, "seed": cfg.pairs.seed}
            for s in sources for f in families for lv in range(1, FAMILIES[f].num_levels + 1)]
    if not jobs:
        return pd.DataFrame(columns=COLUMNS)
    with Tracker(len(jobs), label, "videos") as progress:
        ds = ray.data.from_items(jobs).map(render_row, **ray_args(cfg.pairs, actor=False), fn_kwargs={
            "run_root": run_dir.root, "preset": cfg.pairs.h265_preset,
            "max_short_side": cfg.pairs.max_short_side, "progress": progress.handle,
            "lossless_preset": cfg.pairs.lossless_preset})
        return ds.to_pandas()[COLUMNS]
