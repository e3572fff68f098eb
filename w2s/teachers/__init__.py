"""Weak teachers: `create_teacher(name, **params)` over a registry.

Weight-free: `niqe` (NIQE with the published pristine model), `lowlevel` (documented
combination of low-level metrics). The paper's checkpoint teachers (architectures written
here, official weights from `checkpoint=<path or URI>`, nothing downloads): `fast-vqa`,
`fastervqa`, `dover` (w2s/teachers/fastvqa.py), `minimalisticvqa-vii`, `minimalisticvqa-ix`
(mvqa.py), `q-align` (qalign.py, a transformers model directory).
"""

from w2s.teachers import fastvqa, lowlevel, mvqa, niqe, qalign  # noqa: F401  (registers them)
from w2s.teachers.base import (
    Resources,
    ScoreScale,
    Teacher,
    available_teachers,
    create_teacher,
    register_teacher,
)

__all__ = ["Resources", "ScoreScale", "Teacher", "available_teachers", "create_teacher", "register_teacher"]
