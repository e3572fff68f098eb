"""Every file access to local paths and object-store / HTTP URIs, in one place.

Local paths (and ``file://``) use the local filesystem; ``s3://``, ``gs://`` and
``hdfs://`` use pyarrow's native filesystems (what Ray Data uses too); any other
scheme fsspec knows (``memory://``, ``http(s)://``, ``az://`` with adlfs, ...)
goes through fsspec, wrapped as a pyarrow filesystem. Nothing else in the
project opens a URI by itself.
"""

from __future__ import annotations

import json
import os
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

LOCAL_SCHEMES = ("", "file")
ARROW_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs")


def scheme(uri: str) -> str:
    """The URI scheme ('' for a plain path)."""
    head, sep, _ = str(uri).partition("://")
    return head.lower() if sep else ""


def is_local(uri: str) -> bool:
    return scheme(uri) in LOCAL_SCHEMES


def local_path(uri: str) -> str:
    """Path on this machine for a local URI (strips ``file://``, in any case)."""
    uri = str(uri)
    return uri.split("://", 1)[1] if scheme(uri) == "file" else uri


def join(base: str, *parts: str) -> str:
    """`base/part/...` for paths and URIs alike."""
    return "/".join([str(base).rstrip("/"), *(str(p).strip("/") for p in parts)])


def absolute(uri: str | None) -> str | None:
    """Local paths made absolute (other processes do not share our working directory)."""
    if uri is None or not is_local(uri):
        return uri
    return os.path.abspath(local_path(uri))


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(pyarrow FileSystem, path inside it) for a local path or a URI."""
    uri = str(uri)
    if is_local(uri):
        return pafs.LocalFileSystem(), os.path.abspath(local_path(uri))
    if scheme(uri) in ARROW_SCHEMES:
        return pafs.FileSystem.from_uri(uri)
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


def exists(uri: str) -> bool:
    fsys, path = filesystem(uri)
    return fsys.get_file_info(path).type != pafs.FileType.NotFound


def size(uri: str) -> int:
    if is_local(uri):
        return os.path.getsize(local_path(uri))
    fsys, path = filesystem(uri)
    info = fsys.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(uri)
    return int(info.size)


def open_binary(uri: str) -> IO[bytes]:
    """A seekable binary reader for any URI (local files are opened directly)."""
    if is_local(uri):
        return open(local_path(uri), "rb")
    fsys, path = filesystem(uri)
    return fsys.open_input_file(path)


def remove(uri: str) -> bool:
    """Delete a file if it exists; True when one was deleted."""
    fsys, path = filesystem(uri)
    if fsys.get_file_info(path).type == pafs.FileType.NotFound:
        return False
    fsys.delete_file(path)
    return True


def write_bytes(uri: str, data: bytes) -> str:
    fsys, path = filesystem(uri)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    with fsys.open_output_stream(path) as fh:
        fh.write(data)
    return uri


def read_bytes(uri: str) -> bytes:
    with open_binary(uri) as fh:
        return fh.read()


def write_json(uri: str, payload: dict) -> str:
    return write_bytes(uri, json.dumps(payload, indent=2, default=str).encode())


def read_json(uri: str) -> dict | None:
    """The JSON document at `uri`, or None when there is none."""
    return json.loads(read_bytes(uri).decode()) if exists(uri) else None


def _entries(uri: str) -> list:
    """File infos directly under `uri` (none when it is not a directory)."""
    fsys, path = filesystem(uri)
    if fsys.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return fsys.get_file_info(pafs.FileSelector(path, recursive=False))


def list_files(uri: str, suffix: str = "") -> list[str]:
    """Sorted paths (inside the URI's filesystem) of the files directly under `uri`."""
    return sorted(f.path for f in _entries(uri) if f.type == pafs.FileType.File and f.path.endswith(suffix))


def list_dirs(uri: str) -> list[str]:
    """Sorted names of the directories directly under `uri`."""
    return sorted(os.path.basename(f.path.rstrip("/")) for f in _entries(uri) if f.type == pafs.FileType.Directory)


def read_parquet(uri: str, columns=None):
    """One Parquet file (or a directory of parts) as pandas; an empty frame when absent."""
    import pandas as pd

    if not exists(uri):
        return pd.DataFrame(columns=columns) if columns else pd.DataFrame()
    fsys, path = filesystem(uri)
    return pq.read_table(path, filesystem=fsys, columns=columns).to_pandas()


def write_parquet(uri: str, df) -> str:
    fsys, path = filesystem(uri)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path, filesystem=fsys)
    return uri


def upload_dir(local_dir: str, uri: str) -> str:
    """Copy a local directory's files to `uri` (a local path or any URI)."""
    fsys, path = filesystem(uri)
    fsys.create_dir(path, recursive=True)
    pafs.copy_files(local_dir, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fsys)
    return uri


def upload_file(local_file: str, uri: str) -> str:
    """Copy one local file to `uri` (streamed, not read into memory)."""
    fsys, path = filesystem(uri)
    fsys.create_dir(os.path.dirname(path), recursive=True)
    pafs.copy_files(local_file, path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fsys)
    return uri


def download_dir(uri: str, local_dir: str) -> str:
    fsys, path = filesystem(uri)
    os.makedirs(local_dir, exist_ok=True)
    pafs.copy_files(path, local_dir, source_filesystem=fsys, destination_filesystem=pafs.LocalFileSystem())
    return local_dir


def local_copy(uri: str, tmp_dir: str) -> str:
    """A local path holding `uri`'s content: the path itself when local, else a download."""
    if is_local(uri):
        return local_path(uri)
    return download_dir(uri, os.path.join(tmp_dir, os.path.basename(uri.rstrip("/")) or "download"))
