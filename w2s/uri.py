"""Uniform access to local paths and object-store / HTTP URIs (via fsspec)."""

from __future__ import annotations

import os
from typing import IO

LOCAL_SCHEMES = ("", "file")


def scheme(uri: str) -> str:
    """The URI scheme ('' for a plain path)."""
    head, sep, _ = str(uri).partition("://")
    return head.lower() if sep else ""


def is_local(uri: str) -> bool:
    return scheme(uri) in LOCAL_SCHEMES


def local_path(uri: str) -> str:
    """Path on this machine for a local URI (strips ``file://``)."""
    uri = str(uri)
    return uri[len("file://") :] if uri.startswith("file://") else uri


def open_binary(uri: str) -> IO[bytes]:
    """Open any URI for binary reading: local paths directly, the rest through fsspec
    (s3://, gs://, http(s)://, ... as the matching fsspec backend is installed)."""
    if is_local(uri):
        return open(local_path(uri), "rb")
    import fsspec

    return fsspec.open(uri, "rb").open()


def size(uri: str) -> int:
    if is_local(uri):
        return os.path.getsize(local_path(uri))
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return int(fs.size(path))

