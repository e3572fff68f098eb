import math

import pytest
import torch

from w2s.student.loss import IGNORE, ConfidenceSchedule, confidence_loss


def test_temperature_and_ramp_schedule():
    s = ConfidenceSchedule()
    assert s.temperature(0.0) == pytest.approx(0.5)
    assert s.temperature(0.05) == pytest.approx(0.3)
    assert s.temperature(0.1) == pytest.approx(0.1) and s.temperature(0.7) == pytest.approx(0.1)
    assert s.ramp(0.0) == 0 and s.ramp(0.025) == pytest.approx(0.25) and s.ramp(0.5) == 1.0


def _batch():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11, requires_grad=True)
    labels = torch.full((2, 6), IGNORE)
    labels[:, 4] = torch.tensor([3, 7])  # predicted from position 3
    labels[:, 5] = torch.tensor([1, 2])
    return logits, labels


def test_alpha_lambda_and_loss_at_chosen_steps():
    logits, labels = _batch()
    lp = torch.log_softmax(logits.detach(), -1)
    ce = -(lp[0, 3, 3] + lp[1, 3, 7] + lp[0, 4, 1] + lp[1, 4, 2]) / 4
    ent = lambda i, t: -(lp[i, t].exp() * lp[i, t]).sum()  # noqa: E731
    h = (ent(0, 3) + ent(1, 3) + ent(0, 4) + ent(1, 4)) / 4
    for step_frac, t, ramp in [(0.0, 0.5, 0.0), (0.05, 0.3, 0.5), (0.5, 0.1, 1.0)]:
        out = confidence_loss(logits, labels, step_frac)
        alpha = math.exp(h / t) / (math.exp(h / t) + math.exp(ce / t))
        assert out["ce"].item() == pytest.approx(ce.item(), rel=1e-5)
        assert out["entropy"].item() == pytest.approx(h.item(), rel=1e-5)
        assert out["alpha"].item() == pytest.approx(alpha, rel=1e-4)
        assert out["lam"].item() == pytest.approx(ramp * alpha, rel=1e-4)
        lam = ramp * alpha
        assert out["loss"].item() == pytest.approx(((1 - lam) * ce + lam * h).item(), rel=1e-5)


def test_no_gradient_through_alpha():
    logits, labels = _batch()
    out = confidence_loss(logits, labels, 0.5)
    assert not out["alpha"].requires_grad
    out["loss"].backward()
    g_full = logits.grad.clone()
    logits.grad = None
    lam = out["lam"].item()
    manual = confidence_loss(logits, labels, 0.5)
    ((1 - lam) * torch.nn.functional.cross_entropy(
        logits[:, :-1][labels[:, 1:] != IGNORE], labels[:, 1:][labels[:, 1:] != IGNORE])
     + lam * manual["loss"].new_tensor(0) + lam * _h(logits, labels)).backward()
    assert torch.allclose(g_full, logits.grad, atol=1e-6)


def _h(logits, labels):
    lp = torch.log_softmax(logits[:, :-1], -1)
    return (-(lp.exp() * lp).sum(-1))[labels[:, 1:] != IGNORE].mean()


def test_entropy_over_answer_vs_all_positions():
    logits, labels = _batch()
    with torch.no_grad():
        logits[:, :3] = 0.0  # uniform (max-entropy) predictions outside the answer
    a = confidence_loss(logits, labels, 0.5, entropy_over="answer")["entropy"]
    b = confidence_loss(logits, labels, 0.5, entropy_over="all")["entropy"]
    assert b > a  # the released code's variant counts the uniform prompt positions too
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[:, :3] = 0  # ... unless they are padding
    c = confidence_loss(logits, labels, 0.5, entropy_over="all", attention_mask=mask)["entropy"]
    assert c < b
    with pytest.raises(ValueError):
        confidence_loss(logits, torch.full((2, 6), IGNORE), 0.5)


def test_level_weight_counts_the_level_word_w_times():
    logits, labels = _batch()  # answer: level word predicted from position 3, then one more token
    lp = torch.log_softmax(logits.detach(), -1)
    level = -(lp[0, 3, 3] + lp[1, 3, 7])
    rest = -(lp[0, 4, 1] + lp[1, 4, 2])
    pos = torch.tensor([3, 3])
    assert confidence_loss(logits, labels, 0.5, level_weight=1.0, level_pos=pos)["ce"].item() == pytest.approx(
        confidence_loss(logits, labels, 0.5)["ce"].item())
    out = confidence_loss(logits, labels, 0.5, level_weight=5.0, level_pos=pos)
    assert out["ce"].item() == pytest.approx(((5 * level + rest) / 12).item(), rel=1e-5)
    with pytest.raises(ValueError, match="level_pos"):
        confidence_loss(logits, labels, 0.5, level_weight=5.0)
    with pytest.raises(ValueError, match="answer tokens"):
        confidence_loss(logits, labels, 0.5, level_weight=5.0, level_pos=torch.tensor([1, 3]))


def test_without_the_confidence_term_the_loss_is_the_cross_entropy():
    logits, labels = _batch()
    on = confidence_loss(logits, labels, 0.5)
    off = confidence_loss(logits, labels, 0.5, confidence=False)
    assert on["lam"].item() > 0 and off["lam"].item() == 0
    assert off["loss"].item() == pytest.approx(off["ce"].item())
    assert off["loss"].item() != pytest.approx(on["loss"].item())
