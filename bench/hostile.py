"""Hostile requests against the scoring service, over real HTTP: a reusable catalogue for load
benchmarks (each case knows the status the service must answer), the media they send, and a
one-shot run against a local service.

    from bench.hostile import cases, run_all
    table = run_all("http://127.0.0.1:8000", cases(tmp_dir, allowed_root, limit_mb=200))

    python bench/hostile.py          # a local service (tiny student), every case once, the table
                                     # (bench/results/hostile.json)

The cases (docs/serving.md, "Hostile inputs"): an upload 10x over `max_upload_mb` (declared by
Content-Length: 413 from the headers alone; chunked: 413 once the limit passes), a body
trickling in at 1 byte/s or stalling (408), a decompression bomb (a ~1.5 KB H.264 file whose
SPS declares 16000x16000: 422 before a frame is decoded, also when the size grows mid-stream),
10^6 and 600,000 frames (422 "more than N frames"), malformed multipart (422), path escapes
by `..`, `%2e%2e`, file://host and symlinks (403), an API key with non-ASCII characters (401,
never 500), and controls that must still be 200.

The media builders live in bench/hostile_media.py (the tests use them too); they are re-exported here.
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

if __name__ == "__main__":  # python bench/hostile.py: the project importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

try:  # as bench.hostile (tests) or as hostile (bench/ on the path: soak.py, the script)
    from bench.hostile_media import bomb_mp4, growing_bomb_ts, many_frames, sparse_timestamps_mkv
except ImportError:
    from hostile_media import bomb_mp4, growing_bomb_ts, many_frames, sparse_timestamps_mkv

__all__ = ["Case", "bomb_mp4", "cases", "growing_bomb_ts", "many_frames", "run_all", "sparse_timestamps_mkv"]


# ---------------------------------------------------------------------------------------------
# HTTP: raw sockets where the client's misbehaviour is the point, requests elsewhere.

@dataclass
class Case:
    """One hostile (or control) request: `send(base_url)` makes it and returns the status the
    server answered (0: no answer within the case's bound); `reply` holds the last answer's
    text. `what`: the request, in a line."""
    name: str
    expected_status: int
    send: Callable[[str], int]
    what: str = ""
    reply: dict = field(default_factory=dict, repr=False)


def _addr(base_url: str) -> tuple[str, int]:
    u = urllib.parse.urlsplit(base_url)
    return u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)


def _readable(sock: socket.socket, wait_s: float = 0.0) -> bool:
    return bool(select.select([sock], [], [], wait_s)[0])


def _read_reply(sock: socket.socket, until: float) -> tuple[int, str]:
    """(status, body text) of the HTTP reply on `sock`, or (0, why) when none came by `until`."""
    buf = b""
    while True:
        left = until - time.monotonic()
        if left <= 0:
            return 0, "no reply within the bound"
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return 0, "no reply within the bound"
        except OSError as e:  # reset before anything came
            if not buf:
                return 0, f"connection error: {e}"
            data = b""
        if data:
            buf += data
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            length = next((int(v) for k, _, v in (x.partition(":") for x in lines[1:])
                           if k.strip().lower() == "content-length"), None)
            if not data or length is None or len(body) >= length:
                return status, body[:length].decode("utf-8", "replace") if length is not None else body.decode(
                    "utf-8", "replace")
        elif not data:
            return 0, "connection closed without a reply"


def _raw(base_url: str, head: bytes, parts=(), interval_s: float = 0.0, bound_s: float = 30.0) -> tuple[int, str]:
    """Send `head` (request line and headers), then each of `parts` (`interval_s` apart) until
    the server answers, the parts run out or `bound_s` passes; then read the reply."""
    until = time.monotonic() + bound_s
    with socket.create_connection(_addr(base_url), timeout=bound_s) as sock:
        sock.sendall(head)
        for part in parts:
            if _readable(sock) or time.monotonic() > until:
                break
            try:
                sock.sendall(part)
            except OSError:  # the server answered and closed while we were sending
                break
            if interval_s and _readable(sock, min(interval_s, max(0.0, until - time.monotonic()))):
                break
        return _read_reply(sock, until)


def _head(base_url: str, path: str, headers: dict[str, str | bytes]) -> bytes:
    host, port = _addr(base_url)
    lines = [f"POST {path} HTTP/1.1".encode(), f"Host: {host}:{port}".encode()]
    lines += [k.encode() + b": " + (v if isinstance(v, bytes) else str(v).encode()) for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


BOUNDARY = "w2shostileboundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def _part_head(field_name: str = "video", filename: str = "clip.mp4") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode()


def _multipart(data: bytes, field_name: str = "video", filename: str = "clip.mp4") -> bytes:
    return _part_head(field_name, filename) + data + f"\r\n--{BOUNDARY}--\r\n".encode()


def cases(tmp_dir: str, allowed_root: str, *, limit_mb: float = 200.0, api_key: str | None = None,
          timeout_s: float = 120.0, trickle_every_s: float = 1.0, good_clip: str | None = None,
          only: set[str] | None = None, skip: set[str] = frozenset()) -> list[Case]:
    """The catalogue for a service with `max_upload_mb` = `limit_mb`, `allowed_roots` holding
    `allowed_root`, the API key `api_key` (None: the service has none) and the upload deadline
    `upload_timeout_s` = `timeout_s` (+30 s: how long a trickle case waits for the answer).
    Media is written under `tmp_dir` (outside `allowed_root`), URI targets and links under
    `allowed_root`. `only` / `skip`: just these cases / not these (only the media of the cases
    kept is built)."""
    import requests

    from w2s.pool import source_path

    tmp_dir, allowed_root = os.path.realpath(tmp_dir), os.path.realpath(allowed_root)
    assert os.path.commonpath([tmp_dir, allowed_root]) != allowed_root, "tmp_dir must lie outside allowed_root"
    os.makedirs(tmp_dir, exist_ok=True)
    os.makedirs(allowed_root, exist_ok=True)
    limit = int(limit_mb * 2**20)
    key = {"X-API-Key": api_key.encode()} if api_key else {}  # UTF-8 on the wire
    wait = timeout_s + 30.0  # how long a trickle case waits for the server's answer at most

    good_clip = good_clip or source_path("bikes.mp4")
    inside = os.path.join(allowed_root, "hostile_good.mp4")
    shutil.copyfile(good_clip, inside)
    outside_dir = os.path.join(tmp_dir, "outside")
    os.makedirs(outside_dir, exist_ok=True)
    secret = os.path.join(outside_dir, "secret.mp4")  # a real video: an escape that works gets 200
    shutil.copyfile(good_clip, secret)
    link = os.path.join(allowed_root, "hostile_link.mp4")
    dir_link = os.path.join(allowed_root, "hostile_dir_link")
    for src, dst in ((secret, link), (outside_dir, dir_link)):
        if os.path.lexists(dst):
            os.remove(dst)
        os.symlink(src, dst)
    up = os.path.relpath(secret, allowed_root)  # ../../.../outside/secret.mp4
    encoded = urllib.parse.quote(up).replace("..", "%2e%2e")
    def wanted(name: str) -> bool:
        return (only is None or name in only) and name not in skip

    bomb = bomb_mp4(os.path.join(tmp_dir, "bomb.mp4")) if wanted("bomb_16000x16000") else ""
    growing = growing_bomb_ts(os.path.join(tmp_dir, "growing.ts")) if wanted("bomb_grows_mid_stream") else ""
    million = many_frames(os.path.join(allowed_root, "hostile_million.mp4"), 10**6) if wanted(
        "frames_10e6_mp4") else ""
    undeclared = many_frames(os.path.join(allowed_root, "hostile_600k.mkv"), 600_000) if wanted(
        "frames_600k_mkv") else ""
    clip_bytes = open(good_clip, "rb").read()
    size = lambda path: os.path.getsize(path) if path else 0  # noqa: E731

    def reply(case: Case, status: int, text: str) -> int:
        case.reply["detail"] = text[:300]
        return status

    def req(method: str, path: str, headers: dict | None = None, **kw):
        def send(base_url: str, case: Case) -> int:
            r = requests.request(method, base_url + path, headers={**key, **(headers or {})}, timeout=120, **kw)
            return reply(case, r.status_code, r.text)
        return send

    def upload(path: str, name: str = "clip.mp4", field_name: str = "video"):
        def send(base_url: str, case: Case) -> int:
            with open(path, "rb") as fh:
                return req("POST", "/v1/score", files={field_name: (name, fh)})(base_url, case)
        return send

    def raw_multipart(body: bytes, ctype: str = MULTIPART):
        return req("POST", "/v1/score", data=body, headers={"Content-Type": ctype})

    def uri(value: str):
        return req("POST", "/v1/score", json={"uri": value})

    def over_declared(base_url: str, case: Case) -> int:  # headers only: the body never comes
        head = _head(base_url, "/v1/score", {**key, "Content-Type": MULTIPART, "Content-Length": str(10 * limit)})
        return reply(case, *_raw(base_url, head, bound_s=30))

    def over_chunked(base_url: str, case: Case) -> int:  # no Content-Length: cut at the limit
        head = _head(base_url, "/v1/score", {**key, "Content-Type": MULTIPART, "Transfer-Encoding": "chunked"})
        block = b"\0" * (1 << 20)
        chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
        parts = [f"{len(_part_head()):x}\r\n".encode() + _part_head() + b"\r\n"]
        parts += [chunk] * (10 * limit // len(block))
        return reply(case, *_raw(base_url, head, parts, bound_s=120))

    def trickle(base_url: str, case: Case) -> int:  # 1 byte per `trickle_every_s`, never idle
        body = _multipart(b"\0" * 4096)
        head = _head(base_url, "/v1/score", {**key, "Content-Type": MULTIPART, "Content-Length": str(len(body))})
        parts = (body[i : i + 1] for i in range(len(body)))
        return reply(case, *_raw(base_url, head, parts, interval_s=trickle_every_s, bound_s=wait))

    def stall(base_url: str, case: Case) -> int:  # half the body, then nothing
        body = _multipart(clip_bytes)
        head = _head(base_url, "/v1/score", {**key, "Content-Type": MULTIPART, "Content-Length": str(len(body))})
        return reply(case, *_raw(base_url, head, [body[: len(body) // 2]], bound_s=wait))

    def json_trickle(base_url: str, case: Case) -> int:
        body = b'{"uri": "' + b"a" * 4000 + b'"}'
        head = _head(base_url, "/v1/score", {**key, "Content-Type": "application/json",
                                             "Content-Length": str(len(body))})
        parts = (body[i : i + 1] for i in range(len(body)))
        return reply(case, *_raw(base_url, head, parts, interval_s=trickle_every_s, bound_s=wait))

    def bad_key(value: bytes, header: str = "X-API-Key"):
        def send(base_url: str, case: Case) -> int:
            r = requests.get(base_url + "/v1/model", headers={header: value}, timeout=60)
            return reply(case, r.status_code, r.text)
        return send

    truncated = _multipart(clip_bytes)[: len(clip_bytes) // 2]
    wrong_boundary = _multipart(clip_bytes).replace(BOUNDARY.encode(), b"someotherboundary")
    key_status = 401 if api_key else 200
    table = [
        ("good_upload", 200, upload(good_clip), "control: a real clip uploaded"),
        ("good_uri", 200, uri(inside), "control: a real clip under the allowed root by URI"),
        ("upload_10x_declared", 413, over_declared,
         f"Content-Length {10 * limit} (10x max_upload_mb), headers only: answered before any body byte"),
        ("upload_10x_chunked", 413, over_chunked,
         f"chunked, no Content-Length, 1 MiB chunks up to {10 * limit} bytes: cut at the limit"),
        ("upload_trickle", 408, trickle, f"a 4 KB multipart body at 1 byte per {trickle_every_s:g} s"),
        ("upload_stalled", 408, stall, "half a multipart body, then silence"),
        ("json_trickle", 408, json_trickle, f"a 4 KB JSON body at 1 byte per {trickle_every_s:g} s"),
        ("json_too_large", 413, req("POST", "/v1/score", data=b'{"uri": "' + b"a" * 100_000 + b'"}',
                                    headers={"Content-Type": "application/json"}), "a 100 KB JSON body"),
        ("bomb_16000x16000", 422, upload(bomb, "bomb.mp4"),
         f"{size(bomb)}-byte H.264 MP4 whose SPS declares 16000x16000"),
        ("bomb_grows_mid_stream", 422, upload(growing, "growing.ts"),
         f"{size(growing)}-byte MPEG-TS: 64x64, then an in-band SPS of 16000x16000"),
        ("frames_10e6_mp4", 422, uri(million), "16x16, 10^6 frames (9.3 h at 30 fps), count in the header"),
        ("frames_600k_mkv", 422, uri(undeclared), "16x16, 600,000 frames in Matroska (no count in the header)"),
        ("multipart_no_boundary", 422, raw_multipart(_multipart(clip_bytes), "multipart/form-data"),
         "multipart/form-data without a boundary parameter"),
        ("multipart_wrong_boundary", 422, raw_multipart(wrong_boundary), "the body uses another boundary"),
        ("multipart_truncated", 422, raw_multipart(truncated), "the body cut in the middle of the file"),
        ("multipart_missing_field", 422, upload(good_clip, field_name="clip"), "the file under `clip`, not `video`"),
        ("multipart_garbage", 422, raw_multipart(os.urandom(4096)), "4 KB of random bytes"),
        ("uri_dotdot", 403, uri(os.path.join(allowed_root, up)), "allowed_root/../.../outside/secret.mp4"),
        ("uri_dotdot_percent", 403, uri(f"file://{allowed_root}/{encoded}"),
         "file://allowed_root/%2e%2e/.../secret.mp4 (percent-encoded ..)"),
        ("uri_file_localhost_percent", 403, uri(f"file://localhost{allowed_root}/{encoded}"),
         "file://localhost/... with %2e%2e"),
        ("uri_file_other_host", 403, uri(f"file://evil.example{secret}"), "file://another-host/..."),
        ("uri_symlink_file", 403, uri(link), "a symlink in allowed_root to a file outside"),
        ("uri_symlink_dir", 403, uri(os.path.join(dir_link, "secret.mp4")),
         "through a symlinked directory in allowed_root"),
        ("uri_outside", 403, uri(secret), "an absolute path outside allowed_root"),
        ("uri_nul_byte", 422, uri(inside + "\0.txt"), "a path with a NUL byte"),
        ("api_key_non_ascii", key_status, bad_key("clé-ключ-🔑".encode()),
         "GET /v1/model with X-API-Key of non-ASCII UTF-8 bytes (wrong key)"),
        ("api_key_bearer_latin1", key_status, bad_key(b"Bearer \xe9\xff\x80", "Authorization"),
         "Authorization: Bearer with bytes that are not UTF-8"),
    ]
    out = []
    for name, status, send, what in table:
        if wanted(name):
            case = Case(name, status, lambda base_url: 0, what)
            case.send = lambda base_url, fn=send, c=case: fn(base_url, c)
            out.append(case)
    return out


def run_all(base_url: str, cases: list[Case], good: Case | None = None) -> list[dict]:
    """Run each case once, in order: {name, expected, got, seconds, ok, detail}. With `good` (a
    control case), a thread sends it back to back while each case runs, and the row also counts
    those requests (`good_requests`, `good_failed`) and their slowest time (`good_max_s`)."""
    rows = []
    for case in cases:
        stop, results = threading.Event(), []

        def control(stop, results):
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    st = good.send(base_url)
                except Exception:  # noqa: BLE001
                    st = -1
                results.append((st == good.expected_status, time.perf_counter() - t0))

        thread = threading.Thread(target=control, args=(stop, results), daemon=True) if good is not None else None
        if thread:
            thread.start()
        t = time.perf_counter()
        try:
            got = case.send(base_url)
        except Exception as e:  # noqa: BLE001 - a client-side failure is a result too
            got, case.reply["detail"] = -1, f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - t
        row = {"name": case.name, "expected": case.expected_status, "got": got, "seconds": round(seconds, 2),
               "ok": got == case.expected_status, "detail": case.reply.get("detail", "")[:160]}
        if thread:
            stop.set()
            thread.join()
            row.update(good_requests=len(results), good_failed=sum(not ok for ok, _ in results),
                       good_max_s=round(max((s for _, s in results), default=0.0), 2))
        rows.append(row)
    return rows


def _table(rows: list[dict]) -> str:
    cols = ["name", "expected", "got", "seconds", "ok"] + (["good_requests", "good_failed", "good_max_s"]
                                                            if "good_requests" in rows[0] else [])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    import tempfile

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ["W2S_API_KEY"] = api_key = "hostile-bench-key"
    import ray
    from ray import serve

    from bench._common import write_result
    from bench.scoring import tiny_checkpoint
    from serve.local import start

    root = tempfile.mkdtemp(prefix="w2s-bench-hostile-")
    allowed, scratch = os.path.join(root, "allowed"), os.path.join(root, "scratch")
    settings = {"max_upload_mb": 8.0, "upload_timeout_s": 10.0, "upload_idle_timeout_s": 5.0}
    port = 8767
    try:
        t = time.perf_counter()
        ckpt, _ = tiny_checkpoint(root)
        catalogue = cases(scratch, allowed, limit_mb=settings["max_upload_mb"], api_key=api_key,
                          timeout_s=settings["upload_timeout_s"])
        print(f"checkpoint and media: {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": here, "W2S_API_KEY": api_key}})
        start({"model_dir": ckpt, "allowed_roots": [allowed], **settings}, port=port)
        print(f"service up: {time.perf_counter() - t:.1f} s", flush=True)
        base = f"http://127.0.0.1:{port}"
        good = next(c for c in catalogue if c.name == "good_uri")
        rows = run_all(base, catalogue, good=good)
        print(_table(rows), flush=True)
        write_result("hostile", {"settings": settings, "rows": rows,
                                 "all_ok": all(r["ok"] for r in rows),
                                 "good_failed": sum(r.get("good_failed", 0) for r in rows)})
    finally:
        serve.shutdown()
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
