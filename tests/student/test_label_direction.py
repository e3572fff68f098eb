"""The label direction, end to end: a pair whose second video is clearly worse (a real clip and
its blur level 5) is labelled worse / inferior by every path that makes labels (synthetic
levels, the weak teachers' ensemble, gMAD with the promoted student, the misclassified
filter), keeps that meaning through mirroring and the LLaVA export, and a tiny student trained
only on such pairs moves its predictions that way. A sign flip anywhere fails here."""

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers import moving_frames, write_video
from w2s.conversation import LEVELS
from w2s.mining import gmad_pairs, label_with_student, misclassified
from w2s.pairs import ensemble_label, synthetic_pairs, to_conversations
from w2s.student.batching import PairBatcher
from w2s.student.examples import featurize_pairs
from w2s.student.loss import confidence_loss
from w2s.student.mirror import with_mirrors
from w2s.student.preference import expected_preference
from w2s.student.presets import create_student, image_processor
from w2s.video.distort import distort

WORSE = {"worse", "inferior"}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A textured moving clip at blur levels 1 and 5 (level 5: sigma 5 px, plainly worse)."""
    root = tmp_path_factory.mktemp("direction")
    src = write_video(root / "src.mp4", moving_frames(24, w=96, h=96), fps=12)
    return {lv: distort(src, root / f"blur{lv}.mp4", "blur", lv)["output"] for lv in (1, 5)}


def test_every_labelling_path_calls_the_worse_second_video_worse(clips):
    good, bad = clips[1], clips[5]
    # synthetic levels: the second video is the more distorted one
    rendered = pd.DataFrame({"uri": [good, bad], "source": "src", "family": "blur", "group": "spatial",
                             "level": [1, 5]})
    syn = synthetic_pairs(rendered).set_index(["first_uri", "second_uri"])["label"]
    assert syn[(good, bad)] == "inferior" and syn[(bad, good)] == "superior"
    # the weak teachers' ensemble: lower z-scores for the second video
    assert list(ensemble_label(np.array([1.0]), np.array([0.01]), np.array([-1.0]), np.array([0.01]))) == ["inferior"]
    # gMAD: the pair's student scores travel with its order, and the student's label is read in that order
    scores = pd.DataFrame({"weak": [0.50, 0.51, 0.52, 0.53], "student": [90.0, 10.0, 80.0, 20.0]},
                          index=[good, bad, "c", "d"])
    g = gmad_pairs(scores, "student", ["weak"], levels=1, per_level=2, max_uses=1, seed=1)
    assert len(g) and (g["first_student"] == scores.loc[g["first_uri"], "student"].to_numpy()).all()
    assert (g["second_student"] == scores.loc[g["second_uri"], "student"].to_numpy()).all()
    # a student that answers 'inferior' when its own score of the second video is lower
    probs = np.array([np.eye(5)[4 if b < a else 0] for a, b in zip(g["first_student"], g["second_student"],
                                                                     strict=True)])
    labelled = label_with_student(g, probs)
    lower = labelled["second_student"] < labelled["first_student"]
    assert (labelled.loc[lower, "label"] == "inferior").all() and (labelled.loc[~lower, "label"] == "superior").all()
    # the misclassified filter keeps the pair's true label, not the wrong prediction
    pair = pd.DataFrame({"first_uri": [good], "second_uri": [bad], "label": ["inferior"]})
    kept = misclassified(pair, np.eye(5)[[0]])
    assert list(kept["label"]) == ["inferior"] and list(kept["predicted"]) == ["superior"]


def test_mirroring_and_the_llava_export_keep_the_direction(clips):
    good, bad = clips[1], clips[5]
    pairs = pd.DataFrame({"first_uri": [good], "second_uri": [bad], "label": ["inferior"], "kind": "spatial"})
    conv = to_conversations(pairs)[0]
    assert conv["videos"] == [good, bad]
    assert conv["conversations"][-1]["value"] == "The quality of the second video is inferior to the first video."
    twin = with_mirrors({k: pairs[k].to_numpy(dtype=object) for k in ("first_uri", "second_uri", "label")})
    assert list(twin["first_uri"]) == [good, bad] and list(twin["label"]) == ["inferior", "superior"]


def test_a_student_trained_on_worse_second_videos_learns_that_direction(clips):
    """Only (good, bad) pairs labelled inferior: the level token the loss pushes is the one the
    student then predicts, and its preference for the second video falls (0 = far worse)."""
    torch.manual_seed(0)
    model, tok = create_student("tiny", seed=0)
    size, motion = model.config.vision_config.image_size, np.zeros((2, 256), np.float32).tobytes()
    rows = pd.DataFrame({"first_uri": [clips[1]], "second_uri": [clips[5]], "label": ["inferior"],
                         "first_motion": [motion], "second_motion": [motion]})
    table = featurize_pairs(rows, size, max_frames=2).to_pandas()
    assert table["error"].isna().all()
    batch = {k: table[k].to_numpy() for k in table.columns}
    batcher = PairBatcher(model, tok, image_processor(model))
    x = batcher(batch)
    assert [LEVELS[i] for i in x["target"]] == ["inferior"]

    def preference():
        model.eval()
        with torch.no_grad():
            p = model.level_probabilities(model.forward_pairs(x["input_ids"], x["attention_mask"], x["videos"]),
                                          x["answer_pos"])
        model.train()
        return p[0], float(expected_preference(p)[0])

    _, before = preference()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for step in range(15):
        logits = model.forward_pairs(x["input_ids"], x["attention_mask"], x["videos"])
        out = confidence_loss(logits, x["labels"], step / 15, x["attention_mask"], level_weight=50,
                              level_pos=x["answer_pos"])
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
    probs, after = preference()
    assert after < before and after < 0.25, (before, after)
    assert LEVELS[int(probs.argmax())] in WORSE and float(probs[3] + probs[4]) > 0.5, probs
