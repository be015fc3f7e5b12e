"""Deterministic checks of a claim against one evidence sentence, beside the network's reading.

`surface` writes the claim the way the evidence writes its words (case, name spellings, diacritics) before anything
reads it; `slots` asks whether the evidence fills the claim's slots (people, places, organisations, and quantities
bound to their subjects) the same way; `absence` says when a claim of absence can be contradicted at all.
"""

from __future__ import annotations

from .absence import absence_cue, states_presence
from .slots import entity_findings, names, places
from .surface import align_surface, fold

__all__ = [
    "absence_cue",
    "align_surface",
    "entity_findings",
    "fold",
    "names",
    "places",
    "states_presence",
]
