import torch

from w2s.conversation import LEVELS
from w2s.student.model import W2SStudent
from w2s.student.presets import create_student
from w2s.student.tokens import PairEncoder


def _batch(model, tok, seed=0):
    g = torch.Generator().manual_seed(seed)
    enc = PairEncoder(tok, model.config.image_token_id)
    vids = [{"frames": torch.randn(f, 3, 56, 56, generator=g), "motion": torch.randn(k, 256, generator=g)}
            for f, k in ((3, 3), (2, 2))]
    counts = [c for v in vids for c in model.num_video_tokens(v["frames"].shape[0], v["motion"].shape[0])]
    b = enc.collate([enc.encode(counts, "worse"), enc.encode(counts, None)])
    return b, [vids, vids]


def test_tiny_preset_builds_offline_and_counts_tokens():
    model, tok = create_student("tiny")
    assert model.frame_tokens == 4  # 56 px / 14 = 4x4 patches, pooled 2x2
    assert [tok.convert_ids_to_tokens(i) for i in model.config.level_token_ids] == list(LEVELS)
    b, vids = _batch(model, tok)
    n_img = int((b["input_ids"][0] == model.config.image_token_id).sum())
    assert n_img == (3 * 4 + 1) + 3 + (2 * 4 + 1) + 2
    logits = model.forward_pairs(b["input_ids"], b["attention_mask"], vids)
    p = model.level_probabilities(logits, b["answer_pos"])
    assert p.shape == (2, 5) and torch.allclose(p.sum(-1), torch.ones(2))
    # the unanswered prompt reads the level at the same position as the answered one
    assert b["answer_pos"][0] == b["answer_pos"][1]


def test_hf_export_reloads_with_identical_logits(tmp_path):
    model, tok = create_student("tiny", seed=3)
    with torch.no_grad():
        model.motion_projector[2].bias.fill_(0.5)  # not the init values
    model.eval()
    b, vids = _batch(model, tok)
    before = model.forward_pairs(b["input_ids"], b["attention_mask"], vids)
    model.save_pretrained(tmp_path / "ckpt")
    tok.save_pretrained(tmp_path / "ckpt")
    again = W2SStudent.from_pretrained(tmp_path / "ckpt").eval()
    assert again.config.level_token_ids == model.config.level_token_ids
    assert torch.equal(again.motion_projector[2].bias, model.motion_projector[2].bias)
    after = again.forward_pairs(b["input_ids"], b["attention_mask"], vids)
    assert torch.allclose(before, after, atol=1e-6)


def test_motion_tokens_change_the_prediction():
    model, tok = create_student("tiny", seed=1)
    model.eval()
    b, vids = _batch(model, tok)
    a = model.forward_pairs(b["input_ids"], b["attention_mask"], vids)
    vids2 = [[dict(v, motion=v["motion"] * 0) for v in pair] for pair in vids]  # images: zero motion
    c = model.forward_pairs(b["input_ids"], b["attention_mask"], vids2)
    assert not torch.allclose(a, c)
