"""What the scoring service's ingress does with a request, Ray-free: the API key, the body size
limit and read deadlines (enforced while the body streams in), URIs confined to the allowed
roots, and decoding (`request_videos`, with every bad input a 4xx, never a 500)."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from w2s import uri as uri_mod

log = logging.getLogger("ray.serve")

JSON_LIMIT = 64 * 1024  # a {"uri": ...} body is a few hundred bytes


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


@dataclass(frozen=True)
class Deadline:
    """How long a request body may take: `total_s` for all of it, `idle_s` between two chunks
    (a body trickling in at 1 byte/s never idles, the total deadline ends it)."""
    total_s: float = 120.0
    idle_s: float = 15.0


def check_api_key(request: Request, key: str | None) -> None:
    """401 unless the request carries `key` (X-API-Key or Authorization: Bearer); no key: open."""
    if not key:
        return
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    # header values arrive as latin-1 text: their bytes are what the client sent (UTF-8 for a
    # non-ASCII key); compared as bytes, in constant time, so no key can raise
    if not given or not hmac.compare_digest(given.encode("latin-1", "replace"), key.encode("utf-8")):
        raise HTTPException(401, "missing or wrong API key (send X-API-Key or Authorization: Bearer)")


async def _limited(stream: AsyncIterator[bytes], limit: int, deadline: Deadline) -> AsyncIterator[bytes]:
    """`stream`'s chunks, TooLarge past `limit` bytes, TooSlow past the deadline (the wait for
    each chunk is bounded, so a stalled or trickling client cannot hold the request open)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline.total_s
    it = stream.__aiter__()
    seen = 0
    while True:
        left = end - loop.time()
        if left <= 0:
            raise TooSlow(f"the body took over {deadline.total_s:g} s")
        try:
            chunk = await asyncio.wait_for(it.__anext__(), min(deadline.idle_s, left))
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise TooSlow(f"the body took over {deadline.total_s:g} s" if deadline.idle_s >= left else
                          f"no byte of the body came for {deadline.idle_s:g} s") from None
        seen += len(chunk)
        if seen > limit:
            raise TooLarge
        yield chunk


def _check_length(request: Request, limit: int, what: str) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"{what} of {int(declared)} bytes is over the limit of {limit} bytes")


def _slow(e: TooSlow) -> HTTPException:
    return HTTPException(408, f"request body too slow: {e}")


_DISCONNECT = "the client disconnected before the body was complete"


@contextlib.contextmanager
def _reading(what: str, limit: int):
    """A request body's read errors as HTTP answers: 413 past `limit`, 408 past the deadline,
    400 when the client went away."""
    try:
        yield
    except TooLarge:
        raise HTTPException(413, f"{what} is over the limit of {limit} bytes") from None
    except TooSlow as e:
        raise _slow(e) from None
    except ClientDisconnect:
        raise HTTPException(400, _DISCONNECT) from None


async def read_json(request: Request, deadline: Deadline = Deadline(), limit: int = JSON_LIMIT):
    """The request's JSON body, read with the same limits as an upload: 413 past `limit` bytes,
    408 past the deadline, 422 when it is not JSON."""
    _check_length(request, limit, "JSON body")
    chunks = []
    with _reading("JSON body", limit):
        async for chunk in _limited(request.stream(), limit, deadline):
            chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (ValueError, RecursionError):
        raise HTTPException(422, "body is not valid JSON") from None


async def save_uploads(request: Request, fields: tuple[str, ...], limit: int, tmp_dir: str,
                       deadline: Deadline = Deadline()) -> list[str]:
    """Stream a multipart body to temp files (one per field in `fields`), never holding it in
    memory; 413 as soon as it passes `limit` bytes (at once when Content-Length says so, before
    any of it is read), 408 when it takes longer than `deadline`, 422 when it is malformed or a
    field is missing."""
    _check_length(request, limit, "upload")
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit, deadline),
                             max_files=len(fields), max_fields=len(fields))
    with _reading("upload", limit):
        try:
            form = await parser.parse()
        except MultiPartException as e:
            raise HTTPException(422, f"bad multipart body: {e.message}") from None
    try:
        paths = []
        for name in fields:
            part = form.get(name)
            if not isinstance(part, UploadFile):
                raise HTTPException(422, f"multipart field {name!r} with a video file is required")
            suffix = re.sub(r"[^A-Za-z0-9.]", "", os.path.splitext(part.filename or "")[1])[:16] or ".bin"
            fd, path = tempfile.mkstemp(suffix=suffix, dir=tmp_dir)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(part.file, out, 1 << 20)
            paths.append(path)
        return paths
    finally:
        await form.close()


def _local_path(value: str) -> str:
    """The path a local URI names: a plain path as it is; a file:// URL decoded (RFC 8089:
    percent-encoded, so `%2e%2e/` is `../` and is resolved like it); 403 for a file:// URL
    naming another host."""
    if uri_mod.scheme(value) != "file":
        return value
    parts = urllib.parse.urlsplit(value)
    if parts.netloc not in ("", "localhost"):
        raise HTTPException(403, f"{value} names another host")
    return urllib.parse.unquote(parts.path)


def resolve_uri(value, roots: list[str]) -> str:
    """`value` if it names a file under one of `roots`; 403 otherwise (also for `..`, percent-
    encoded or not, and for a symlink that leads out of the roots), 404 when it does not exist,
    422 when not a string."""
    if not isinstance(value, str) or not value:
        raise HTTPException(422, "`uri` must be a non-empty string")
    if "\x00" in value:
        raise HTTPException(422, "`uri` holds a NUL byte")
    if not roots:
        raise HTTPException(403, "scoring by URI is disabled on this server (no allowed_roots configured)")
    if uri_mod.is_local(value):
        local = _local_path(value)
        if "\x00" in local:
            raise HTTPException(422, "`uri` holds a NUL byte")
        path = os.path.realpath(local)
        for root in roots:
            if uri_mod.is_local(root):
                real_root = os.path.realpath(uri_mod.local_path(root))
                if os.path.commonpath([path, real_root]) == real_root:
                    if not os.path.isfile(path):
                        raise HTTPException(404, f"no such file: {value}")
                    return path
    else:
        segments = urllib.parse.unquote(value).replace("\\", "/").split("/")
        if ".." not in segments and "." not in segments:
            for root in roots:
                if not uri_mod.is_local(root) and value.startswith(root.rstrip("/") + "/"):
                    try:
                        found = uri_mod.exists(value)
                    except ValueError as e:
                        raise HTTPException(422, f"not a usable URI: {value} ({e})") from None
                    except Exception as e:  # noqa: BLE001 - the store failed, not the request
                        raise HTTPException(502, f"cannot look up {value}: {type(e).__name__}") from None
                    if not found:
                        raise HTTPException(404, f"no such object: {value}")
                    return value
    raise HTTPException(403, f"{value} is outside the allowed roots")


async def request_videos(request: Request, fields: tuple[str, ...], tmp: str, *, key: str | None, limit: int,
                         deadline: Deadline, roots: list[str], sampling) -> list:
    """Decoded inputs (w2s.scoring.inputs.VideoInputs) of the request's videos: multipart
    uploads streamed into `tmp`, or JSON URIs under `roots`; 401/403/404/408/413/415/422 for
    what is wrong with the request, the decoder's reason for a file that is not a usable video."""
    from w2s.scoring.inputs import decode
    from w2s.video import VideoDecodeError

    check_api_key(request, key)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        paths = await save_uploads(request, fields, limit, tmp, deadline)
        names = paths
    elif ctype.startswith("application/json"):
        body = await read_json(request, deadline)
        keys = ("uri",) if fields == ("video",) else fields
        if not isinstance(body, dict) or any(k not in body for k in keys):
            raise HTTPException(422, f"JSON body must hold {', '.join(repr(k) for k in keys)}")
        paths = [resolve_uri(body[k], roots) for k in keys]
        names = [body[k] for k in keys]
    else:
        raise HTTPException(415, "send multipart/form-data (a video file) or application/json ({'uri': ...})")
    out = []
    for path, name in zip(paths, names, strict=True):
        try:
            out.append(await run_in_threadpool(decode, path, sampling))
        except VideoDecodeError as e:
            raise HTTPException(422, f"not a decodable video: {e.reason}") from None
        except Exception as e:  # noqa: BLE001 - whatever else a hostile file triggers is still bad input
            log.exception("decoding %s failed", name)
            raise HTTPException(422, f"not a decodable video: {type(e).__name__}: {e}") from None
        out[-1].uri = name if not name.startswith(tmp) else "upload"
    return out


UPLOAD_PREFIX = "w2s-upload-"


def upload_dir(root: str | None = None) -> tempfile.TemporaryDirectory:
    """The temp directory of one request's uploads, removed when the request ends. Its name holds
    this process's id, so what a killed process left is found and removed (`sweep_uploads`)."""
    return tempfile.TemporaryDirectory(prefix=f"{UPLOAD_PREFIX}{os.getpid()}-", dir=root)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def sweep_uploads(root: str | None = None) -> int:
    """Remove the upload directories of processes that no longer run (a replica killed in the
    middle of a request cannot remove its own); the number removed."""
    root = root or tempfile.gettempdir()
    n = 0
    for entry in os.scandir(root):
        m = re.fullmatch(rf"{UPLOAD_PREFIX}(\d+)-\w+", entry.name)
        if m and entry.is_dir(follow_symlinks=False) and not _alive(int(m.group(1))):
            shutil.rmtree(entry.path, ignore_errors=True)
            n += 1
    return n
