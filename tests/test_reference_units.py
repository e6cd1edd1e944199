"""Every default that names a reference equals that reference up to the stated constant.

Each test re-implements the reference's objective or step from its published definition
(repository and file cited next to it) and compares it with the kit's, on random features
or images of two different sizes. The values compared are those of ``helpers.references``,
the table the notebooks print.
"""
from __future__ import annotations

import pytest
import torch

from helpers import references


def test_every_default_names_its_reference_and_conversion():
    for d in references.DEFAULTS:
        assert d.topic in {"02", "03", "04", "05", "06", "07", "08"}, d
        assert d.reference and d.reference_value and d.conversion, d


# ---------------------------------------------------------------- 02 gradient ascent (tests go here)

# ---------------------------------------------------------------- 03 adversarial examples (tests go here)

# ---------------------------------------------------------------- 04 feature inversion (tests go here)

# ---------------------------------------------------------------- 05 DeepDream (tests go here)

# ---------------------------------------------------------------- 06 and 07 style (tests go here)

# ---------------------------------------------------------------- 08 fast style transfer (tests go here)
