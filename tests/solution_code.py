"""Load the reference answers of a solution notebook into a namespace, for semantic tests
(see :mod:`instructor.answers`)."""
from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from instructor.answers import solution_namespace  # noqa: E402

__all__ = ["solution_namespace"]
