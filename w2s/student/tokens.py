"""Token sequences for a pair: the Qwen chat template around the METHOD.md prompt,
image slots expanded to the feature counts, labels on the answer only."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from w2s.conversation import ANSWER, LEVELS, QUESTION, SYSTEM
from w2s.student.loss import IGNORE

IMAGE = "<image>"
ANSWER_PREFIX = ANSWER.split("{level}")[0].rstrip()  # "The quality of the second video is"
PROMPT = (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTION}<|im_end|>\n"
          f"<|im_start|>assistant\n")


def level_token_ids(tokenizer) -> list[int]:
    """The first token of each level word as it follows the answer prefix."""
    base = tokenizer(ANSWER_PREFIX, add_special_tokens=False).input_ids
    ids = []
    for w in LEVELS:
        full = tokenizer(f"{ANSWER_PREFIX} {w}", add_special_tokens=False).input_ids
        if full[: len(base)] != base or len(full) == len(base):
            raise ValueError(f"tokenizer splits the answer prefix differently before {w!r}")
        ids.append(full[len(base)])
    if len(set(ids)) != len(ids):
        raise ValueError("two level words share their first token")
    return ids


@dataclass
class Encoded:
    ids: list[int]
    labels: list[int]
    answer_pos: int  # position whose next-token logits give the level


class PairEncoder:
    def __init__(self, tokenizer, image_token_id: int):
        self.tok, self.image_id = tokenizer, image_token_id
        self.prompt = tokenizer(PROMPT, add_special_tokens=False).input_ids
        if self.prompt.count(image_token_id) != 4:
            raise ValueError("the prompt must hold four <image> slots")
        self.prefix = tokenizer(ANSWER_PREFIX, add_special_tokens=False).input_ids
        self.end = tokenizer("<|im_end|>", add_special_tokens=False).input_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end[0]

    def encode(self, counts: list[int], level: str | None = None) -> Encoded:
        """counts: tokens for [first frames, first motion, second frames, second motion]."""
        ids, slot = [], 0
        for t in self.prompt:
            if t == self.image_id:
                ids += [self.image_id] * counts[slot]
                slot += 1
            else:
                ids.append(t)
        labels = [IGNORE] * len(ids)
        if level is None:
            ids += self.prefix
            return Encoded(ids, labels + [IGNORE] * len(self.prefix), len(ids) - 1)
        answer = self.tok(ANSWER.format(level=level), add_special_tokens=False).input_ids + self.end
        pos = len(ids) + len(self.prefix) - 1
        return Encoded(ids + answer, labels + answer, pos)

    def split(self, counts: list[int]) -> tuple[list[int], Encoded]:
        """The unlabelled prompt cut after the first video's tokens: (prefix ids, the rest with
        its answer position counted from the cut). The prefix depends on the first video only."""
        e = self.encode(counts, None)
        image_at = [i for i, t in enumerate(e.ids) if t == self.image_id]
        cut = image_at[counts[0] + counts[1] - 1] + 1
        return e.ids[:cut], Encoded(e.ids[cut:], e.labels[cut:], e.answer_pos - cut)

    def collate(self, items: list[Encoded]) -> dict[str, torch.Tensor]:
        n = max(len(e.ids) for e in items)
        ids = torch.full((len(items), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(items), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for i, e in enumerate(items):
            ids[i, : len(e.ids)] = torch.tensor(e.ids)
            labels[i, : len(e.labels)] = torch.tensor(e.labels)
            mask[i, : len(e.ids)] = 1
        pos = torch.tensor([e.answer_pos for e in items])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "answer_pos": pos}
