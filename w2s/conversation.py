"""The pair conversation of METHOD.md section 3, shared by the pairs export and the
student: the five comparison levels and their weights, the system prompt, the
question about two videos, and the answer."""

LEVELS = ("superior", "better", "similar", "worse", "inferior")  # second relative to first
LEVEL_WEIGHTS = {"inferior": 0.0, "worse": 0.25, "similar": 0.5, "better": 0.75, "superior": 1.0}
SYSTEM = "You are a helpful assistant."
QUESTION = (
    "Now you will receive two videos. The first video:\n <image><image>. "
    "The second video:\n <image><image>. Please watch these videos carefully, and then answer "
    "the following question: Comparing with the first video, how do you assess the quality "
    "of the second video?"
)
ANSWER = "The quality of the second video is {level} to the first video."


def answer(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return ANSWER.format(level=level)


def mirror_label(label: str) -> str:
    """The label of the swapped pair: METHOD.md section 2 labels are antisymmetric
    (d -> -d swaps superior/inferior and better/worse; similar stays)."""
    if label not in LEVELS:
        raise ValueError(f"unknown level {label!r}")
    return LEVELS[len(LEVELS) - 1 - LEVELS.index(label)]
