"""Which weights produced what: so no random-weight picture passes for a real one.

Every model load records itself here. Figures (``helpers.display``) stamp a visible
"random weights" mark when any random-weight model has been used in this process,
and when ``$KIT_PROVENANCE_FILE`` is set (the demo runner sets it) each record is
appended to that file as a JSON line so the gallery can report it.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import asdict, dataclass

PROVENANCE_FILE_ENV = "KIT_PROVENANCE_FILE"
RANDOM_WEIGHTS_MARK = "RANDOM WEIGHTS — not a pretrained network"


@dataclass(frozen=True)
class WeightsRecord:
    model: str
    weights: str          # e.g. "VGG19_Weights.IMAGENET1K_V1", "random (seed 0)", a path
    random: bool
    note: str = ""


_records: list[WeightsRecord] = []


def record(model: str, weights: str, random: bool, note: str = "") -> WeightsRecord:
    """Note that ``model`` was loaded with ``weights``; warn loudly when they are random."""
    rec = WeightsRecord(model=model, weights=weights, random=random, note=note)
    if rec not in _records:
        _records.append(rec)
    if random and note:
        warnings.warn(f"{model}: {note}", stacklevel=3)
    path = os.environ.get(PROVENANCE_FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(rec)) + "\n")
    return rec


def records() -> list[WeightsRecord]:
    """All loads recorded in this process, oldest first."""
    return list(_records)


def random_weights_used() -> bool:
    """True when any model loaded in this process had random weights."""
    return any(r.random for r in _records)


def clear() -> None:
    """Forget every record (tests use this)."""
    _records.clear()
