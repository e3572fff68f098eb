"""A client of the scoring service (serve/app.py): POST /v1/score per video."""

from __future__ import annotations

import os


def score_url(url: str, video: str, api_key: str | None = None, by_uri: bool = False,
              timeout: float = 600.0) -> dict:
    """Score `video` on the service at `url`: uploaded (default) or by URI (the server must list
    its folder in allowed_roots). Raises RuntimeError with the server's reason on an error."""
    import requests

    headers = {"X-API-Key": api_key} if api_key else {}
    endpoint = url.rstrip("/") + "/v1/score"
    if by_uri:
        r = requests.post(endpoint, json={"uri": video}, headers=headers, timeout=timeout)
    else:
        with open(video, "rb") as fh:
            r = requests.post(endpoint, files={"video": (os.path.basename(video), fh)}, headers=headers,
                              timeout=timeout)
    try:
        body = r.json()
    except ValueError:
        body = {"detail": r.text[:200]}
    if r.status_code != 200:
        raise RuntimeError(f"{video}: HTTP {r.status_code}: {body.get('detail', body)}")
    return body
