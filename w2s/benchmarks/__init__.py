"""The paper's ten evaluation benchmarks, a loader for any `uri,mos` CSV, and the demo's proxy.

    from w2s.benchmarks import load
    df = load("konvid-1k", "/data/KoNViD-1k")      # uri, mos, group, video

Every loader reads the dataset's own distributed label file from a local or
object-store root (nothing is downloaded) and returns one row per rated video.
The registry carries the paper's split: in-domain (LSVQ test, LSVQ 1080p,
KoNViD-1k, LIVE-VQC, YouTube-UGC) and out-of-distribution (the other five).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from w2s import uri
from w2s.benchmarks import ood, ugc
from w2s.benchmarks._read import COLUMNS, BenchmarkError, column, frame, read_csv

IN_DOMAIN, OOD, CUSTOM = "in-domain", "ood", "custom"


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    domain: str
    loader: Callable[..., pd.DataFrame]

    @property
    def layout(self) -> str:
        """The expected folder layout (the loader's docstring)."""
        return (self.loader.__doc__ or "").strip()


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("lsvq-test", "LSVQ test", IN_DOMAIN, ugc.lsvq_test),
    Benchmark("lsvq-1080p", "LSVQ test-1080p", IN_DOMAIN, ugc.lsvq_1080p),
    Benchmark("konvid-1k", "KoNViD-1k", IN_DOMAIN, ugc.konvid_1k),
    Benchmark("live-vqc", "LIVE-VQC", IN_DOMAIN, ugc.live_vqc),
    Benchmark("youtube-ugc", "YouTube-UGC", IN_DOMAIN, ugc.youtube_ugc),
    Benchmark("live-yt-gaming", "LIVE-YT-Gaming", OOD, ood.live_yt_gaming),
    Benchmark("cgvds", "CGVDS", OOD, ood.cgvds),
    Benchmark("live-yt-hfr", "LIVE-YT-HFR", OOD, ood.live_yt_hfr),
    Benchmark("waterloo-ivc-4k", "Waterloo-IVC-4K", OOD, ood.waterloo_ivc_4k),
    Benchmark("kvq", "KVQ", OOD, ood.kvq),
)}


def load_csv(path: str) -> pd.DataFrame:
    """Any benchmark as a CSV with `uri` and `mos` columns (optional `group`); a relative uri is
    taken relative to the CSV's folder."""
    df = read_csv(path)
    u, m = column(df, ["uri"], path), column(df, ["mos"], path)
    base = path.rsplit("/", 1)[0] if "/" in path else "."
    uris = [x if (uri.scheme(x) or x.startswith("/")) else uri.join(base, x) for x in df[u].astype(str)]
    group = df["group"].fillna("") if "group" in df else None
    return frame(uris, df[m], group=group, video=df[u], source=path)


def load(name: str, root: str | None = None, label_file: str | None = None, csv: str | None = None,
         limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One benchmark's rows: a registered one from its root, or a custom one from `csv`.
    `limit`: a seeded random subset of that many videos (a quick look)."""
    if csv:
        df = load_csv(uri.absolute(csv))
    elif name in BENCHMARKS:
        if not root:
            raise BenchmarkError(f"benchmark {name!r} needs `root`: the folder holding its files")
        root = uri.absolute(root).rstrip("/")
        df = BENCHMARKS[name].loader(root, uri.absolute(label_file) if label_file else None)
    else:
        raise BenchmarkError(f"unknown benchmark {name!r}: one of {', '.join(BENCHMARKS)}, "
                             f"or give `csv` (a file with uri,mos columns)")
    if limit is not None and limit < len(df):
        df = df.sample(n=limit, random_state=seed).sort_index()
    return df.reset_index(drop=True)


def domain_of(name: str, override: str | None = None) -> str:
    if override:
        return override
    return BENCHMARKS[name].domain if name in BENCHMARKS else CUSTOM


__all__ = ["BENCHMARKS", "COLUMNS", "CUSTOM", "IN_DOMAIN", "OOD", "Benchmark", "BenchmarkError",
           "domain_of", "load", "load_csv"]
