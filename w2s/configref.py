"""The config-key reference (docs/config.md), generated from the pydantic models of w2s.config
so it cannot drift: every key, its type, default and description.

    python -m w2s.configref > docs/config.md      (make docs; tests/test_config.py checks it is current)
"""

from __future__ import annotations

import inspect
import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from w2s.config import RENAMED, RunCfg

HEADER = """# Config keys

Generated from `w2s/config.py` by `python -m w2s.configref` (`make docs`); do not edit by hand.
A recipe is YAML (`configs/demo.yaml`, `configs/paper.yaml`); `--set key.sub=value` overrides
one key (the value parsed as YAML). An unknown key is an error, and so is a renamed one (the
message names its new key; the renames are listed at the end).
"""


def _type(annotation) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    text = text or str(annotation).replace("typing.", "")
    return text.replace("NoneType", "None").replace("w2s.config.", "")


def _default(field) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        value = [v.model_dump(exclude_defaults=True) for v in value]
    return "null" if value is None else f"`{value}`".replace("|", "\\|")


def _model_of(annotation):
    """The model a field holds: itself, or the item type of a list of models."""
    for t in (annotation, *typing.get_args(annotation)):
        if inspect.isclass(t) and issubclass(t, BaseModel):
            return t
    return None


def sections(model=RunCfg, prefix: str = "") -> list[tuple[str, type, list[tuple]]]:
    """(section name, model, rows of (key, type, default, description)) for the model and every nested one."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        sub = _model_of(field.annotation)
        key = f"{prefix}{name}"
        if sub is not None and sub is not model:
            many = typing.get_origin(field.annotation) is list
            nested += sections(sub, f"{key}[]." if many else f"{key}.")
            if not many:
                continue
        desc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append((key, _type(field.annotation), _default(field), desc))
    return [(prefix.rstrip(".") or "top level", model, rows), *nested]


def markdown() -> str:
    out = [HEADER]
    for name, model, rows in sections():
        if not rows:
            continue
        out.append(f"\n## `{name}`\n" if name != "top level" else "\n## Top level\n")
        doc = inspect.getdoc(model) if model.__doc__ and model is not RunCfg else None
        if doc and not doc.startswith(("Create a new model", "A base class")):
            out.append(doc.split("\n\n")[0].replace("\n", " ") + "\n")
        out.append("| key | type | default | description |\n|---|---|---|---|")
        out += [f"| `{k}` | {t.replace('|', chr(92) + '|')} | {d} | {desc} |" for k, t, d, desc in rows]
    out.append("\n## Renamed keys (refused, with this message)\n\n| old | now |\n|---|---|")
    out += [f"| `{k}` | {v.replace('|', chr(92) + '|')} |" for k, v in RENAMED.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
