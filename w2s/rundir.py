"""The run directory contract: Parquet outputs per stage, stage.json, failures.

Layout under run_dir (local path or s3://):
    <stage>/part-*.parquet      the stage's rows (Ray Data writes them)
    <stage>/stage.json          config, version, counts, failures, duration
    failures/<stage>.parquet    uri, stage, reason
Reading a stage dedupes on its key, so a retried or resumed write can never
show a row twice; unreadable part files (a write cut short) are removed.
"""

from __future__ import annotations

import json
import os
import time

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from w2s import __version__


def filesystem(uri: str):
    """(pyarrow FileSystem, path) for a local path or a URI."""
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    return pafs.FileSystem.from_uri(uri)


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def parquet_files(uri: str) -> list[str]:
    fsys, path = filesystem(uri)
    info = fsys.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        return []
    sel = pafs.FileSelector(path, recursive=False)
    return sorted(f.path for f in fsys.get_file_info(sel) if f.path.endswith(".parquet"))


def read_table(uri: str, key: str | tuple[str, ...] | None = "uri", columns=None):
    """All rows of a stage output as pandas, deduplicated on `key`. Corrupt parts are removed."""
    import pandas as pd

    fsys, _ = filesystem(uri)
    frames = []
    for f in parquet_files(uri):
        try:
            frames.append(pq.read_table(f, filesystem=fsys, columns=columns).to_pandas())
        except (pa.ArrowInvalid, OSError):
            fsys.delete_file(f)  # a part cut short by an interrupted write: its rows are redone
    if not frames:
        return pd.DataFrame(columns=columns) if columns else pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    if key is not None and len(df):
        df = df.drop_duplicates(subset=[key] if isinstance(key, str) else list(key), keep="first")
    return df.reset_index(drop=True)


def write_json(uri: str, payload: dict) -> None:
    fsys, path = filesystem(uri)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    with fsys.open_output_stream(path) as fh:
        fh.write(json.dumps(payload, indent=2, default=str).encode())


def read_json(uri: str) -> dict | None:
    fsys, path = filesystem(uri)
    if fsys.get_file_info(path).type == pafs.FileType.NotFound:
        return None
    with fsys.open_input_stream(path) as fh:
        return json.loads(fh.read().decode())


def upload_dir(local_dir: str, uri: str) -> str:
    """Copy a local directory to `uri` (a local path or any pyarrow filesystem URI)."""
    fsys, path = filesystem(uri)
    fsys.create_dir(path, recursive=True)
    pafs.copy_files(local_dir, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fsys)
    return uri


def download_dir(uri: str, local_dir: str) -> str:
    fsys, path = filesystem(uri)
    os.makedirs(local_dir, exist_ok=True)
    pafs.copy_files(path, local_dir, source_filesystem=fsys, destination_filesystem=pafs.LocalFileSystem())
    return local_dir


def read_parquet(uri: str):
    """One Parquet file as pandas; an empty frame when it does not exist."""
    import pandas as pd

    fsys, path = filesystem(uri)
    if fsys.get_file_info(path).type == pafs.FileType.NotFound:
        return pd.DataFrame()
    return pq.read_table(path, filesystem=fsys).to_pandas()


def write_parquet(uri: str, df) -> str:
    fsys, path = filesystem(uri)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, filesystem=fsys)
    return uri


def write_failures(run_dir: str, stage: str, failures) -> str:
    """Replace failures/<stage>.parquet with the given (uri, reason) rows."""
    import pandas as pd

    df = pd.DataFrame({"uri": list(failures["uri"]), "stage": stage, "reason": list(failures["reason"])})
    return write_parquet(join(run_dir, "failures", f"{stage}.parquet"), df)


class StageRecord:
    """Collects what a stage did and writes <stage>/stage.json at the end."""

    def __init__(self, run_dir: str, stage: str, config: dict):
        self.run_dir, self.stage, self.config = run_dir, stage, config
        self.t0 = time.time()
        self.data: dict = {}

    def finish(self, **fields) -> dict:
        self.data.update(fields)
        payload = {"stage": self.stage, "w2s_version": __version__, "config": self.config,
                   "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.t0)),
                   "duration_s": round(time.time() - self.t0, 2), **self.data}
        write_json(join(self.run_dir, self.stage, "stage.json"), payload)
        return payload
