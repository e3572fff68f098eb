"""train_student's Hugging Face export: the workers gather the full weights at the end
and rank 0 writes `student/<name>/` plus a probe batch with its logits; the driver
reloads the export and compares logits on that probe (`train.verify_export`)."""

from __future__ import annotations

import io
import tempfile

import torch

from w2s import uri
from w2s.rundir import RunDir
from w2s.scoring.anchors import ANCHORS_JSON


def export_model(engine, student, tok, processor, probe: dict | None, run_dir: RunDir, name: str,
                 rank: int) -> None:
    """Gather full weights (collective under ZeRO-3); rank 0 saves the HF model and a probe."""
    logits = None
    if probe is not None:
        engine.module.eval()
        with torch.no_grad():
            logits = engine(probe["input_ids"], probe["attention_mask"], probe["videos"]).float().cpu()
        engine.module.train()
    with engine.full_state_context():
        if rank == 0:
            state = {k: v.detach().float().cpu().clone() for k, v in student.state_dict().items()}
    if rank != 0:
        return
    # anchors (and their comparison matrix) belong to the weights they were computed with
    uri.remove(uri.join(run_dir.student(name), ANCHORS_JSON))
    with tempfile.TemporaryDirectory() as tmp:
        student.save_pretrained(tmp, state_dict=state)
        tok.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        uri.upload_dir(tmp, run_dir.student(name))
    if probe is not None:
        buf = io.BytesIO()
        torch.save({**{k: probe[k] for k in ("input_ids", "attention_mask", "videos")}, "logits": logits}, buf)
        uri.write_bytes(run_dir.export_check(name), buf.getvalue())


def verify_export(run_dir: RunDir, name: str) -> float | None:
    """Max |logit difference| of the reloaded export on the saved probe batch (None: no probe)."""
    from w2s.student.model import W2SStudent

    if not uri.exists(run_dir.export_check(name)):
        return None
    probe = torch.load(io.BytesIO(uri.read_bytes(run_dir.export_check(name))), map_location="cpu",
                       weights_only=False)
    with tempfile.TemporaryDirectory() as tmp:
        model = W2SStudent.from_pretrained(uri.local_copy(run_dir.student(name), tmp)).eval()
        with torch.no_grad():
            logits = model.forward_pairs(probe["input_ids"], probe["attention_mask"], probe["videos"])
    return float((logits.float() - probe["logits"].float()).abs().max())
