"""gMAD mining and the misclassified-synthetic filter (METHOD.md section 5)."""

import time

import numpy as np
import pandas as pd
import pytest

from w2s.conversation import LEVELS
from w2s.mining import gmad_pairs, label_with_student, misclassified, uniform_levels


def _table(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"weak": rng.normal(size=n), "student": rng.normal(size=n)},
                        index=[f"v{i:05d}.mp4" for i in range(n)])


def test_weak_level_pairs_sit_inside_one_weak_level_with_the_largest_student_gaps():
    t = _table()
    p = gmad_pairs(t, "student", ["weak"], levels=5, per_level=10, max_uses=2)
    d1 = p[p["direction"] == "weak_level"]
    level, width = uniform_levels(t["weak"].to_numpy(), 5)
    lv = pd.Series(level, index=t.index)
    assert (lv[d1["first_uri"]].to_numpy() == d1["level"].to_numpy()).all()
    assert (lv[d1["second_uri"]].to_numpy() == d1["level"].to_numpy()).all()
    assert ((d1["first_weak"] - d1["second_weak"]).abs() <= width).all()
    _largest_gaps(d1, t, lv, "student")


def _largest_gaps(pairs, t, lv, attacker):
    """In each level the largest mined gap is the level's extreme pair, and in a populated level
    every mined gap beats the median gap of all pairs of the level."""
    for k, g in pairs.groupby("level"):
        members = t.loc[lv == k, attacker].to_numpy()
        gaps = (g[f"first_{attacker}"] - g[f"second_{attacker}"]).abs()
        assert gaps.max() == pytest.approx(members.max() - members.min())
        if len(members) >= 40:
            every = np.abs(np.subtract.outer(members, members))[np.triu_indices(len(members), 1)]
            assert gaps.min() > np.median(every)


def test_student_level_direction_swaps_the_roles():
    t = _table(seed=1)
    p = gmad_pairs(t, "student", ["weak"], levels=4, per_level=8, max_uses=1)
    d2 = p[p["direction"] == "student_level"]
    level, width = uniform_levels(t["student"].to_numpy(), 4)
    lv = pd.Series(level, index=t.index)
    assert (lv[d2["first_uri"]].to_numpy() == lv[d2["second_uri"]].to_numpy()).all()
    assert ((d2["first_student"] - d2["second_student"]).abs() <= width).all()
    t = t.rename(columns={"weak": "weak_score"})
    _largest_gaps(d2.rename(columns={"first_weak": "first_weak_score", "second_weak": "second_weak_score"}),
                  t, lv, "weak_score")


def test_per_video_uses_are_capped_and_pairs_are_distinct():
    t = _table(n=300, seed=2)
    for cap in (1, 3):
        p = gmad_pairs(t, "student", ["weak"], levels=3, per_level=40, max_uses=cap)
        for _, g in p.groupby("direction"):
            uses = pd.concat([g["first_uri"], g["second_uri"]]).value_counts()
            assert uses.max() <= cap
            keys = {tuple(sorted(x)) for x in zip(g["first_uri"], g["second_uri"], strict=True)}
            assert len(keys) == len(g)
            assert (g["first_uri"] != g["second_uri"]).all()
    # order within a pair is random: both orientations occur
    assert 0.2 < (p["first_student"] > p["second_student"]).mean() < 0.8


def test_several_weak_models_and_missing_scores():
    t = _table(n=200, seed=3)
    t["other"] = t["weak"] * -1
    t.loc[t.index[:50], "other"] = np.nan
    p = gmad_pairs(t, "student", ["weak", "other"], levels=5, per_level=5)
    assert set(p["weak_model"]) == {"weak", "other"}
    assert not set(t.index[:50]) & set(p.loc[p["weak_model"] == "other", "first_uri"])
    assert set(p["direction"]) == {"weak_level", "student_level"}


def test_a_million_scores_in_seconds():
    t = _table(n=1_000_000, seed=4)
    t0 = time.perf_counter()
    p = gmad_pairs(t, "student", ["weak"], levels=8, per_level=5000, max_uses=2)
    elapsed = time.perf_counter() - t0
    # the edge levels of a normal sample hold fewer than 2 x 5000 / 2 videos
    assert 0.6 * 2 * 8 * 5000 < len(p) <= 2 * 8 * 5000
    print(f"gMAD on 1M videos: {elapsed:.1f} s for {len(p)} pairs")  # bench/, not a threshold here


def test_misclassified_keeps_only_pairs_predicted_differently():
    pairs = pd.DataFrame({"first_uri": list("abcd"), "second_uri": list("efgh"),
                          "label": ["superior", "worse", "better", "inferior"]})
    probs = np.eye(5)[[LEVELS.index(x) for x in ("superior", "better", "better", "worse")]]
    bad = misclassified(pairs, probs)
    assert list(bad["first_uri"]) == ["b", "d"]
    assert list(bad["predicted"]) == ["better", "worse"]
    assert np.allclose(bad["student_probs"].iloc[0], probs[1])
    with pytest.raises(ValueError, match="probabilities"):
        misclassified(pairs, probs[:2])


def test_gmad_pairs_get_the_students_predicted_level():
    t = _table(n=100, seed=5)
    p = gmad_pairs(t, "student", ["weak"], levels=2, per_level=3)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=len(p))
    out = label_with_student(p, probs)
    assert list(out["label"]) == [LEVELS[i] for i in probs.argmax(1)]
    assert np.allclose(np.stack(out["student_probs"]), probs)
    assert {"weak_model", "direction", "level", "first_weak", "second_student"} <= set(out.columns)


def test_misclassified_keep_is_balanced_over_groups():
    from ray_jobs.mine_pairs import keep_balanced

    mis = pd.DataFrame({"kind": ["spatial"] * 50 + ["temporal"] * 3 + ["compression"] * 20, "x": range(73)})
    kept = keep_balanced(mis, 30, seed=0)
    counts = kept["kind"].value_counts().to_dict()
    assert len(kept) == 30 and counts["temporal"] == 3 and abs(counts["spatial"] - counts["compression"]) <= 1
    assert len(keep_balanced(mis, 100, seed=0)) == 73


def test_pair_accuracy_counts_levels_and_directions():
    from w2s.student.preference import pair_accuracy

    eye = np.eye(5)  # LEVELS order: superior, better, similar, worse, inferior
    probs = np.stack([eye[0], eye[1], eye[3], eye[2]])
    acc = pair_accuracy(probs, ["superior", "superior", "better", "similar"])
    assert acc["pairs"] == 4 and acc["level"] == 0.5  # rows 0 and 3
    assert acc["direction"] == pytest.approx(2 / 3)  # 'similar' has no direction
    assert pair_accuracy(np.zeros((0, 5)), [])["direction"] is None


def test_pair_augmentation_crops_both_videos_alike():
    from w2s.student.augment import draw

    rng = np.random.default_rng(0)
    frames = np.arange(2 * 16 * 16 * 3, dtype=np.uint8).reshape(2, 16, 16, 3)
    crops = [draw(rng, 16) for _ in range(200)]
    assert all(11 <= c.side <= 16 and c.y + c.side <= 16 and c.x + c.side <= 16 for c in crops)
    assert 0.35 < np.mean([c.flip for c in crops]) < 0.65
    c = crops[0]
    a, b = c.apply(frames), c.apply(frames.copy())
    assert np.array_equal(a, b) and a.shape == (2, c.side, c.side, 3)
    flipped = type(c)(c.y, c.x, c.side, not c.flip).apply(frames)
    assert np.array_equal(flipped, a[:, :, ::-1])


def test_comparison_blocks_keep_a_synthetic_group_together():
    from ray_jobs.compare import blocks

    syn = pd.DataFrame({"first_uri": [f"s{i}" for i in range(6)], "second_uri": [f"t{i}" for i in range(6)],
                        "source": ["a", "a", "b", "a", "b", "b"], "family": ["blur"] * 6})
    gm = pd.DataFrame({"first_uri": ["z", "y", "x", "w", "v"], "second_uri": list("abcde"), "source": "",
                       "family": "gmad"})
    out = blocks(pd.concat([syn, gm], ignore_index=True), size=2)
    assert sorted(r for b in out for r in b["row"]) == list(range(11))  # every pair once
    assert [sorted(b["row"]) for b in out[:2]] == [[0, 1, 3], [2, 4, 5]]  # one block per (source, family)
    assert [len(b) for b in out[2:]] == [2, 2, 1] and list(out[2]["first_uri"]) == ["v", "w"]  # sorted


def test_replay_adds_a_seeded_sample_of_the_earlier_stage_with_its_labels(tmp_path):
    from ray_jobs.mine_pairs import replayed
    from w2s.pairs import PAIR_COLUMNS
    from w2s.rundir import RunDir

    run = RunDir(str(tmp_path))
    prev = pd.DataFrame({"first_uri": [f"a{i}.mp4" for i in range(30)], "second_uri": [f"b{i}.mp4" for i in range(30)],
                         "label": [LEVELS[i % 5] for i in range(30)], "kind": "spatial", "family": "blur",
                         "levels": "1-2", "stage": 1, "source": "s.mp4"})[PAIR_COLUMNS]
    run.write_pairs(prev, 1)
    assert replayed(run, 2, 0, seed=3).empty
    r = replayed(run, 2, 12, seed=3)
    assert len(r) == 12 and (r["replay_of"] == 1).all() and not r.duplicated(["first_uri"]).any()
    back = prev.set_index("first_uri").loc[r["first_uri"]]
    assert (back["label"].to_numpy() == r["label"].to_numpy()).all()  # labels kept, pair by pair
    assert r.equals(replayed(run, 2, 12, seed=3)) and not r.equals(replayed(run, 2, 12, seed=4))
    assert len(replayed(run, 2, 100, seed=3)) == 30  # never more than the stage had


def test_later_stages_train_at_the_scaled_learning_rate():
    from w2s.config import TrainCfg
    from w2s.student.engine import stage_lrs

    tc = TrainCfg(lr={"vision_tower": 1e-3, "projector": 2e-3, "motion_projector": 1e-3, "llm": 1e-3},
                  later_lr_scale=0.25)
    assert stage_lrs(tc, 1) == tc.lr
    assert stage_lrs(tc, 2) == pytest.approx({k: v * 0.25 for k, v in tc.lr.items()})
    assert stage_lrs(TrainCfg(), 3) == TrainCfg().lr
