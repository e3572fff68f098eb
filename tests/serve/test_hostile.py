"""The scoring service's ingress against hostile requests, Ray-free: the real request path
(`serve.checks.request_videos`: key, streamed multipart, JSON, URI checks, decoding) behind a
real HTTP server (uvicorn in a thread, as Serve's proxy runs it), driven by bench/hostile.py's
catalogue over sockets; and the checks themselves."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time

import pytest
import requests
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from bench.hostile import Case, cases, run_all
from serve.checks import Deadline, check_api_key, request_videos, resolve_uri
from w2s.scoring.inputs import Sampling

LIMIT_MB = 1.0
KEY = "sécret-ключ"  # a non-ASCII key: clients send it as UTF-8
DEADLINE = Deadline(total_s=2.0, idle_s=1.0)
HEAVY = {"frames_10e6_mp4", "frames_600k_mkv"}  # tests/video/test_bad_input.py has them


def _app(allowed: str) -> FastAPI:
    app = FastAPI()

    @app.exception_handler(Exception)  # as serve/app.py: a JSON 500 for a server fault
    async def _unexpected(request: Request, exc: Exception):
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    @app.post("/v1/score")
    async def score(request: Request) -> dict:
        with tempfile.TemporaryDirectory(prefix="w2s-upload-") as tmp:
            (x,) = await request_videos(request, ("video",), tmp, key=KEY, limit=int(LIMIT_MB * 2**20),
                                        deadline=DEADLINE, roots=[allowed],
                                        sampling=Sampling(image_size=32, max_frames=2, motion_size=16))
        return {"uri": x.uri, "frames": len(x.frames)}

    @app.get("/v1/model")
    async def model(request: Request) -> dict:
        check_api_key(request, KEY)
        return {"ok": True}

    return app


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    import uvicorn

    root = tmp_path_factory.mktemp("hostile")
    allowed, scratch = str(root / "allowed"), str(root / "scratch")
    catalogue = cases(scratch, allowed, limit_mb=LIMIT_MB, api_key=KEY, timeout_s=DEADLINE.total_s,
                      trickle_every_s=0.4, skip=HEAVY)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(_app(os.path.realpath(allowed)), log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", {c.name: c for c in catalogue}, allowed, scratch
    server.should_exit = True
    thread.join(10)


def test_every_case_of_the_catalogue_gets_its_status(service):
    url, by_name, _, _ = service
    before = set(os.listdir(tempfile.gettempdir()))
    rows = run_all(url, list(by_name.values()))
    bad = [r for r in rows if not r["ok"]]
    assert not bad, bad
    # the reasons a caller gets
    detail = {r["name"]: r["detail"] for r in rows}
    assert "16000x16000 is over the limit of" in detail["bomb_16000x16000"]
    assert "16000x16000 is over the limit of" in detail["bomb_grows_mid_stream"]
    assert "over the limit of 1048576 bytes" in detail["upload_10x_declared"]
    assert "over the limit" in detail["upload_10x_chunked"]
    assert "took over 2 s" in detail["upload_trickle"] and "for 1 s" in detail["upload_stalled"]
    assert "outside the allowed roots" in detail["uri_dotdot_percent"]
    leftovers = {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("w2s-upload-")}
    assert not leftovers  # every upload's temp dir removed, whatever happened


def test_trickle_times_out_in_bounded_time_and_good_requests_go_on(service):
    url, by_name, _, _ = service
    trickle, good = by_name["upload_trickle"], by_name["good_uri"]
    got: dict = {}
    t0 = time.perf_counter()
    thread = threading.Thread(target=lambda: got.update(status=trickle.send(url), at=time.perf_counter() - t0))
    thread.start()
    time.sleep(0.5)  # the trickle is on
    answered = [(good.send(url), time.perf_counter() - t0) for _ in range(3)]
    thread.join()
    assert [s for s, _ in answered] == [200, 200, 200]
    assert answered[-1][1] < got["at"]  # answered while the trickle was still being waited on
    assert got["status"] == 408 and got["at"] < DEADLINE.total_s + 10


def test_the_right_non_ascii_key_passes_and_no_key_raises(service):
    url = service[0]
    assert requests.get(url + "/v1/model", headers={"X-API-Key": KEY.encode()}).status_code == 200
    assert requests.get(url + "/v1/model", headers={"Authorization": b"Bearer " + KEY.encode()}).status_code == 200
    for value in ("wrong", "sécret-ключ!".encode(), b"\xff\xfex", "é".encode("latin-1"), KEY.encode()[:-1]):
        assert requests.get(url + "/v1/model", headers={"X-API-Key": value}).status_code == 401
    # a NUL byte is not HTTP: the server's parser refuses it before the app (400, not a 500)
    assert requests.get(url + "/v1/model", headers={"X-API-Key": b"a\x00b"}).status_code == 400


def test_check_api_key_compares_bytes_in_constant_time(monkeypatch):
    import hmac

    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))

    class R:
        def __init__(self, value):
            self.headers = {"x-api-key": value}

    check_api_key(R(KEY.encode().decode("latin-1")), KEY)  # what Starlette makes of the UTF-8 bytes
    with pytest.raises(HTTPException) as e:
        check_api_key(R("\u20ac\u0000"), "ascii-key")  # not latin-1 at all: still just a 401
    assert e.value.status_code == 401
    assert len(calls) == 2 and all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)


def _status(fn, *args) -> int:
    try:
        fn(*args)
    except HTTPException as e:
        return e.status_code
    return 200


def test_resolve_uri_refuses_every_escape(tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"x")
    (allowed / "my clip.mp4").write_bytes(b"x")
    os.symlink(outside / "secret.mp4", allowed / "link.mp4")
    os.symlink(outside, allowed / "dir")
    os.symlink(allowed / "my clip.mp4", allowed / "inner_link.mp4")  # a link that stays inside: fine
    roots = [str(allowed)]
    a = str(allowed)
    escapes = [
        f"{a}/../outside/secret.mp4",
        f"file://{a}/%2e%2e/outside/secret.mp4",
        f"file://{a}/%2E%2E%2Foutside%2Fsecret.mp4",
        f"FILE://{a}/%2e%2e/outside/secret.mp4",
        f"file://localhost{a}/%2e%2e/outside/secret.mp4",
        f"file://evil.example{a}/my%20clip.mp4",
        f"{a}/link.mp4",
        f"{a}/dir/secret.mp4",
        f"file://{a}/dir/secret.mp4",
        str(outside / "secret.mp4"),
        "/etc/passwd",
        "memory://elsewhere/x.mp4",
    ]
    for value in escapes:
        assert _status(resolve_uri, value, roots) == 403, value
    # what is inside still resolves, URL-decoded where it is a URL
    clip = os.path.realpath(allowed / "my clip.mp4")
    assert resolve_uri(f"file://{a}/my%20clip.mp4", roots) == clip
    assert resolve_uri(f"file://localhost{a}/my%20clip.mp4", roots) == clip
    assert resolve_uri(f"{a}/my clip.mp4", roots) == clip
    assert resolve_uri(f"{a}/inner_link.mp4", roots) == clip
    assert _status(resolve_uri, f"{a}/my%20clip.mp4", roots) == 404  # a plain path is taken as it is
    assert _status(resolve_uri, f"{a}/clip.mp4\0.txt", roots) == 422
    assert _status(resolve_uri, 7, roots) == 422
    assert _status(resolve_uri, f"{a}/my clip.mp4", []) == 403


def test_resolve_uri_object_store_prefixes():
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/allowed/clip.mp4", b"x")
    fs.pipe("/secret.mp4", b"x")
    roots = ["memory://allowed"]
    assert resolve_uri("memory://allowed/clip.mp4", roots) == "memory://allowed/clip.mp4"
    assert _status(resolve_uri, "memory://allowed/none.mp4", roots) == 404
    for value in ("memory://allowed/../secret.mp4", "memory://allowed/%2e%2e/secret.mp4",
                  "memory://allowed/./../secret.mp4", "memory://allowed\\..\\secret.mp4", "memory://allowedx/a.mp4"):
        assert _status(resolve_uri, value, roots) == 403, value


def test_a_case_is_what_the_benchmark_gets():
    c = Case("x", 200, lambda base_url: 200, "a request")
    (row,) = run_all("http://127.0.0.1:9", [c])
    assert row["ok"] and row["got"] == 200 and row["expected"] == 200 and row["seconds"] >= 0
