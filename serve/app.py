"""The scoring service: a Ray Serve application of two deployments.

- `Ingress` (CPU, FastAPI): checks the request (API key, size, allowed roots), streams an
  upload to a temp file (always removed), decodes the key frames and motion chunks of at
  most max_frames seconds, and hands the arrays to the scorer.
- `Scorer` (a GPU per replica when the cluster has GPUs): loads the checkpoint once and
  scores with `@serve.batch`, so concurrent requests share one forward pass.

    serve run serve/config.yaml                 # the config's args.model_dir
    w2s serve --model runs/demo/run/student/stage1 --port 8000

Endpoints: POST /v1/score, POST /v1/compare, GET /v1/model, GET /healthz, /docs.
"""

import os
from typing import Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from ray import serve

from serve.checks import Deadline, check_api_key, log, request_videos, sweep_uploads, upload_dir
from w2s import __version__


class ServeSettings(BaseModel):
    """The application's arguments (`args:` in serve/config.yaml)."""
    model_config = ConfigDict(extra="forbid")
    model_dir: str = Field(..., description="exported student with anchors.json (absolute path or URI)")
    max_upload_mb: float = Field(200.0, gt=0, description="larger uploads get 413")
    upload_timeout_s: float = Field(120.0, gt=0, description="a request body (upload or JSON) still "
                                    "arriving after this many seconds gets 408 (ends trickling clients)")
    upload_idle_timeout_s: float = Field(15.0, gt=0, description="408 when no byte of the body arrives "
                                         "for this many seconds")
    allowed_roots: list[str] = Field(default_factory=list, description="directories/URI prefixes whose files "
                                     "may be scored by {'uri': ...}; empty = URI scoring off")
    api_key_env: str = Field("W2S_API_KEY", description="env var holding the API key; unset = no key needed")
    max_batch_size: int = Field(8, ge=1, description="@serve.batch: videos per forward pass")
    batch_wait_timeout_s: float = Field(0.02, ge=0, description="@serve.batch: wait for a fuller batch")
    device: Literal["auto", "cpu", "cuda"] = "auto"


api = FastAPI(title="w2s-vqa scorer", version=__version__,
              description="0-100 video quality scores from a weak-to-strong student (anchors + MAP).")


@api.exception_handler(Exception)
async def _unexpected(request: Request, exc: Exception):  # a JSON body even for a server fault
    return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)


# The environment of every replica's process (serve/local.py, serve/config.yaml's runtime_env,
# bench/soak.py). glibc gives each decoding thread its own malloc arena (up to 8 per core), each
# keeping its high-water mark: without this the ingress replica's RSS climbs with the requests.
REPLICA_ENV = {"MALLOC_ARENA_MAX": "2"}


@serve.deployment(name="Scorer", ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32)
class ScorerDeployment:
    """The Serve deployment `Scorer`: one w2s.scoring.scorer.Scorer per replica."""

    def __init__(self, settings: dict):
        from w2s.scoring.scorer import Scorer as Impl

        s = ServeSettings(**settings)
        self.scorer = Impl.from_pretrained(s.model_dir, device=None if s.device == "auto" else s.device)
        self.score_batch.set_max_batch_size(s.max_batch_size)
        self.score_batch.set_batch_wait_timeout_s(s.batch_wait_timeout_s)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def score_batch(self, inputs: list) -> list[dict]:
        res = self.scorer.score_inputs(inputs)
        return [{"score": r.score, "c": r.c, "timings": {**r.timings, "batch_size": len(inputs)}} for r in res]

    async def score(self, x) -> dict:
        return await self.score_batch(x)

    def compare(self, first, second) -> dict:
        return self.scorer.compare(first, second)


@serve.deployment(ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=64)
@serve.ingress(api)
class Ingress:
    def __init__(self, scorer, settings: dict):
        from w2s.scoring.anchors import AnchorSet

        self.s = ServeSettings(**settings)
        self.scorer = scorer
        self.anchors = AnchorSet.load(self.s.model_dir, with_inputs=False)
        self.limit = int(self.s.max_upload_mb * 2**20)
        self.deadline = Deadline(self.s.upload_timeout_s, self.s.upload_idle_timeout_s)
        self.key = os.environ.get(self.s.api_key_env) or None
        swept = sweep_uploads()  # what a replica killed mid-upload left behind (bench/soak.py)
        if swept:
            log.warning("removed %d upload temp dirs of ingress processes that are gone", swept)

    async def _videos(self, request: Request, fields: tuple[str, ...], tmp: str) -> list:
        """Decoded inputs of the request's videos: multipart uploads or JSON URIs."""
        return await request_videos(request, fields, tmp, key=self.key, limit=self.limit, deadline=self.deadline,
                                    roots=self.s.allowed_roots, sampling=self.anchors.sampling)

    @staticmethod
    async def _scorer_call(response):
        """The Scorer's answer; 503 (Retry-After: 1) while its replica is gone (killed, node lost) and
        Serve starts another: a caller retries, the request is not lost (docs/serving.md)."""
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError

        try:
            return await response
        except (ActorDiedError, ActorUnavailableError, RayActorError) as e:
            log.warning("scorer replica unavailable: %s", type(e).__name__)
            raise HTTPException(503, "the scorer replica is restarting; retry", headers={"Retry-After": "1"}) from None

    @api.post("/v1/score")
    async def score(self, request: Request) -> dict:
        """Score one video: multipart field `video`, or JSON {"uri": ...} under an allowed root."""
        with upload_dir() as tmp:
            (x,) = await self._videos(request, ("video",), tmp)
        res = await self._scorer_call(self.scorer.score.remote(x))
        return {"uri": x.uri, "checkpoint": self.anchors.source.get("checkpoint"), **res}

    @api.post("/v1/compare")
    async def compare(self, request: Request) -> dict:
        """The five level probabilities of `second` relative to `first` (multipart or JSON)."""
        with upload_dir() as tmp:
            first, second = await self._videos(request, ("first", "second"), tmp)
        probs = await self._scorer_call(self.scorer.compare.remote(first, second))
        return {"first": first.uri, "second": second.uri, "probabilities": probs}

    @api.get("/v1/model")
    async def model(self, request: Request) -> dict:
        check_api_key(request, self.key)
        a = self.anchors
        return {"checkpoint": a.source.get("checkpoint"), "model_dir": self.s.model_dir,
                "anchors": [{"uri": x.uri, "mu": x.mu} for x in a.anchors], "matrix": a.matrix,
                "link": a.link, "temperatures": {"test": a.temperature_test, "anchor": a.temperature_anchor},
                "sampling": a.sampling.__dict__, "motion_random_init": a.motion_random_init,
                "max_upload_mb": self.s.max_upload_mb, "upload_timeout_s": self.s.upload_timeout_s,
                "upload_idle_timeout_s": self.s.upload_idle_timeout_s, "max_batch_size": self.s.max_batch_size,
                "version": __version__}

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok"}


def scorer_gpus(device: str) -> float:
    """1 GPU per Scorer replica when the cluster has GPUs (device auto/cuda), else 0. A config
    file's `deployments: ray_actor_options` still overrides this."""
    import ray

    if device == "cpu" or not ray.is_initialized():
        return 0.0
    return 1.0 if ray.cluster_resources().get("GPU", 0) else 0.0


def build_app(args: dict):
    """The application (`import_path: serve.app:build_app`); `args` are ServeSettings."""
    s = ServeSettings(**args)
    settings = s.model_dump()
    scorer = ScorerDeployment.options(ray_actor_options={"num_cpus": 1, "num_gpus": scorer_gpus(s.device)})
    return Ingress.bind(scorer.bind(settings), settings)
