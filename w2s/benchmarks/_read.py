"""Shared readers of the benchmarks' label files (CSV, XLSX, MATLAB v5) from a local or URI root."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from w2s import uri

COLUMNS = ["uri", "mos", "group", "video"]


class BenchmarkError(ValueError):
    """A benchmark's files are not where (or what) its official layout says."""


def find(root: str, candidates: list[str], what: str) -> str:
    """The first of `candidates` (paths relative to root) that exists."""
    for c in candidates:
        p = uri.join(root, c)
        if uri.exists(p):
            return p
    raise BenchmarkError(f"{what}: none of {', '.join(candidates)} under {root}")


def read_csv(path: str, **kw) -> pd.DataFrame:
    with uri.open_binary(path) as f:
        return pd.read_csv(f, **kw)


def read_xlsx(path: str, sheet) -> pd.DataFrame:
    with uri.open_binary(path) as f:
        data = f.read()
    try:
        return pd.read_excel(io.BytesIO(data), sheet_name=sheet)
    except ValueError as e:  # a missing sheet
        raise BenchmarkError(f"{path}: {e}") from e


def read_mat(path: str) -> dict:
    """A MATLAB v5 file (scipy); v7.3 (HDF5) files are refused with a clear error."""
    from scipy import io as sio

    with uri.open_binary(path) as f:
        data = f.read()
    try:
        return sio.loadmat(io.BytesIO(data))
    except (NotImplementedError, ValueError) as e:
        raise BenchmarkError(f"{path}: not a MATLAB v5 .mat file ({e}); save it with -v7") from e


def mat_strings(cell) -> list[str]:
    """A MATLAB cell array of strings (n x 1 or 1 x n) as Python strings."""
    out = []
    for item in np.asarray(cell, dtype=object).ravel():
        while isinstance(item, np.ndarray):
            item = item.ravel()[0] if item.size else ""
        out.append(str(item))
    return out


def need(df: pd.DataFrame, columns: list[str], path: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise BenchmarkError(f"{path}: no column {', '.join(map(repr, missing))} "
                             f"(columns: {', '.join(map(str, df.columns))})")


def column(df: pd.DataFrame, names: list[str], path: str) -> str:
    """The first of `names` that `df` has."""
    for n in names:
        if n in df.columns:
            return n
    raise BenchmarkError(f"{path}: none of the columns {', '.join(map(repr, names))} "
                         f"(columns: {', '.join(map(str, df.columns))})")


def frame(uris, mos, group=None, video=None, source: str = "") -> pd.DataFrame:
    """The loaders' common output: uri, mos (float), group (str, '' = none), video (the dataset's id).
    Rows without a numeric MOS are an error, not silently dropped."""
    uris = [str(u) for u in uris]
    mos_num = pd.to_numeric(pd.Series(list(mos)), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(mos_num)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BenchmarkError(f"{source}: {int(bad.sum())} rows without a numeric MOS "
                             f"(first: {uris[i]!r}, MOS {list(mos)[i]!r})")
    df = pd.DataFrame({"uri": uris, "mos": mos_num,
                       "group": [str(g) for g in group] if group is not None else "",
                       "video": [str(v) for v in video] if video is not None else uris})
    if df.empty:
        raise BenchmarkError(f"{source}: no videos")
    dup = df["uri"].duplicated()
    if dup.any():
        raise BenchmarkError(f"{source}: {int(dup.sum())} duplicate videos (first: {df['uri'][dup].iloc[0]!r})")
    return df[COLUMNS]
