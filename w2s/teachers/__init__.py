"""Weak teachers: `create_teacher(name, **params)` over a registry.

Built in: `niqe` (NIQE with the published pristine model), `lowlevel`
(documented combination of low-level metrics). Checkpoint teachers (DOVER,
FAST-VQA, MinimalisticVQA, Q-Align) register the same way with
`checkpoint=<path or URI>` and GPU resources.
"""

from w2s.teachers import lowlevel, niqe  # noqa: F401  (registers them)
from w2s.teachers.base import (
    Resources,
    ScoreScale,
    Teacher,
    available_teachers,
    create_teacher,
    register_teacher,
)

__all__ = ["Resources", "ScoreScale", "Teacher", "available_teachers", "create_teacher", "register_teacher"]
