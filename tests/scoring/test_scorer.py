"""Scorer on a tiny student over real clips: one vision pass per video, the cached anchor
prefixes equal full prompts, comparisons equal the training forward, and a checkpoint that
scores on its own."""

import os
import shutil

import numpy as np
import pandas as pd
import pytest

from w2s.scoring.build import build_anchors
from w2s.scoring.scorer import Scorer
from w2s.video import VideoDecodeError

SETTINGS = {"max_frames": 2, "motion_size": 32}


@pytest.fixture(scope="module")
def ckpt(small_pool, tmp_path_factory):
    """A tiny student saved like the training export, and its anchors from copies of the clips
    (the copies are deleted afterwards: scoring must not need them)."""
    from w2s.student.presets import create_student, image_processor

    root = tmp_path_factory.mktemp("scorer")
    model, tok = create_student("tiny", seed=0)
    path = str(root / "student")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    image_processor(model).save_pretrained(path)
    copies = root / "anchor_clips"
    copies.mkdir()
    uris = []
    for u in small_pool["good"]:
        uris.append(str(copies / os.path.basename(u)))
        shutil.copy(u, uris[-1])
    mu = pd.Series(np.linspace(-1, 1, len(uris)), index=uris)
    aset = build_anchors(path, mu, **SETTINGS, source={"checkpoint": "tiny"})
    shutil.rmtree(copies)
    return {"path": path, "anchors": aset}


def test_anchors_are_stored_with_the_checkpoint(ckpt):
    a = ckpt["anchors"]
    assert len(a.anchors) == 5 and len(a.inputs) == 5
    m = np.array(a.matrix)
    assert m.shape == (5, 5) and np.allclose(m + m.T, 1) and np.allclose(np.diag(m), 0.5)
    assert (m != 0.5).sum() == 20  # the 10 anchor pairs were really compared
    assert a.sampling.max_frames == 2 and a.sampling.image_size == 56
    assert os.path.exists(os.path.join(ckpt["path"], "anchors.json"))


def test_one_vision_pass_per_scored_video(ckpt, small_pool):
    scorer = Scorer.from_pretrained(ckpt["path"])
    frames, chunks = [], []
    scorer.model.model.vision_tower.register_forward_hook(lambda m, args, out: frames.append(len(args[0])))
    # the fast pathway's stem sees every chunk (the motion feature skips the slow pathway)
    fast_stem = scorer.extractor.model.blocks[0].multipathway_blocks[1]
    fast_stem.register_forward_hook(lambda m, args, out: chunks.append(len(args[0])))
    videos = small_pool["good"][:3]
    inputs = [scorer.prepare(v) for v in videos]
    scores = scorer.score(inputs)
    # 3 videos x 5 anchors: every key frame through the tower once and every 1-s chunk through
    # SlowFast once (the anchors' tokens were computed at load)
    assert sum(frames) == sum(len(x.frames) for x in inputs) and len(frames) <= 3
    assert sum(chunks) == sum(len(x.chunks) for x in inputs)
    assert scorer.counters["vision_passes"] == 5 + 3
    assert all(0 <= s.score <= 100 and len(s.c) == 5 for s in scores)
    assert all(0 < c < 1 for s in scores for c in s.c)


def test_cached_anchor_prefix_equals_full_prompts(ckpt, small_pool):
    videos = small_pool["good"][:4]
    cached, full = Scorer.from_pretrained(ckpt["path"]), Scorer.from_pretrained(ckpt["path"], cache_prefix=False)
    tok0 = cached.counters["llm_tokens"], full.counters["llm_tokens"]
    a, b = cached.score(videos), full.score(videos)
    np.testing.assert_allclose([s.c for s in a], [s.c for s in b], atol=1e-6)
    np.testing.assert_allclose([s.score for s in a], [s.score for s in b], atol=1e-3)
    per_video = [(s.counters["llm_tokens"] - t) / len(videos) for s, t in zip((cached, full), tok0, strict=True)]
    assert per_video[0] < 0.75 * per_video[1]


def test_batched_scores_equal_one_at_a_time(ckpt, small_pool):
    scorer = Scorer.from_pretrained(ckpt["path"])
    videos = small_pool["good"][3:7]
    batch = [s.score for s in scorer.score(videos)]
    single = [scorer.score([v])[0].score for v in videos]
    np.testing.assert_allclose(batch, single, atol=1e-3)
    assert len(set(np.round(batch, 3))) > 1  # different clips, different scores


def test_compare_equals_the_training_forward(ckpt, small_pool):
    from w2s.student.infer import PairScorer
    from w2s.student.motion import MotionExtractor

    scorer = Scorer.from_pretrained(ckpt["path"])
    ref = PairScorer.from_pretrained(ckpt["path"], motion_extractor=MotionExtractor(size=32), max_frames=2)
    v = small_pool["good"]
    pairs = [(v[0], v[1]), (v[2], v[0]), (v[3], v[4])]
    ours = scorer.compare_batch(pairs)
    theirs = ref.pair_probabilities_batch(pairs).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    p = scorer.compare(v[0], v[1])
    assert list(p) == ["superior", "better", "similar", "worse", "inferior"] and sum(p.values()) == pytest.approx(1)


def test_a_bad_video_is_a_clear_error(ckpt, small_pool):
    scorer = Scorer.from_pretrained(ckpt["path"])
    with pytest.raises(VideoDecodeError):
        scorer.score([small_pool["bad"][1]])
    assert scorer.score([]) == []
