"""Request checks of the scoring service, Ray-free: the API key, the upload size limit
(enforced while the body streams in), and URIs confined to the allowed roots."""

from __future__ import annotations

import hmac
import os
import shutil
import tempfile
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from w2s import uri as uri_mod


class TooLarge(Exception):
    pass


def check_api_key(request: Request, key: str | None) -> None:
    """401 unless the request carries `key` (X-API-Key or Authorization: Bearer); no key: open."""
    if not key:
        return
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization") or ""
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given or not hmac.compare_digest(given.encode(), key.encode()):
        raise HTTPException(401, "missing or wrong API key (send X-API-Key or Authorization: Bearer)")


async def _limited(stream: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise TooLarge
        yield chunk


async def save_uploads(request: Request, fields: tuple[str, ...], limit: int, tmp_dir: str) -> list[str]:
    """Stream a multipart body to temp files (one per field in `fields`), never holding it in
    memory; 413 as soon as it passes `limit` bytes, 422 when a field is missing."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {int(declared)} bytes is over the limit of {limit} bytes")
    parser = MultiPartParser(request.headers, _limited(request.stream(), limit), max_files=len(fields),
                             max_fields=len(fields))
    try:
        form = await parser.parse()
    except TooLarge:
        raise HTTPException(413, f"upload is over the limit of {limit} bytes") from None
    except MultiPartException as e:
        raise HTTPException(422, f"bad multipart body: {e.message}") from None
    try:
        paths = []
        for name in fields:
            part = form.get(name)
            if not isinstance(part, UploadFile):
                raise HTTPException(422, f"multipart field {name!r} with a video file is required")
            suffix = os.path.splitext(part.filename or "")[1][:16] or ".bin"
            fd, path = tempfile.mkstemp(suffix=suffix, dir=tmp_dir)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(part.file, out, 1 << 20)
            paths.append(path)
        return paths
    finally:
        await form.close()


def resolve_uri(value, roots: list[str]) -> str:
    """`value` if it names a file under one of `roots`; 403 otherwise (also for `..` and for a
    symlink that leads out of the roots), 404 when it does not exist, 422 when not a string."""
    if not isinstance(value, str) or not value:
        raise HTTPException(422, "`uri` must be a non-empty string")
    if not roots:
        raise HTTPException(403, "scoring by URI is disabled on this server (no allowed_roots configured)")
    if uri_mod.is_local(value):
        path = os.path.realpath(uri_mod.local_path(value))
        for root in roots:
            if uri_mod.is_local(root):
                real_root = os.path.realpath(uri_mod.local_path(root))
                if os.path.commonpath([path, real_root]) == real_root:
                    if not os.path.isfile(path):
                        raise HTTPException(404, f"no such file: {value}")
                    return path
    else:
        if ".." not in value.split("/"):
            for root in roots:
                if not uri_mod.is_local(root) and value.startswith(root.rstrip("/") + "/"):
                    if not uri_mod.exists(value):
                        raise HTTPException(404, f"no such object: {value}")
                    return value
    raise HTTPException(403, f"{value} is outside the allowed roots")
