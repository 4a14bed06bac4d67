"""Correction burden inputs computed on the EHR side, so no text leaves it.

A bridge holds the AI draft and the text the clinician signed; Vitals needs
only how far apart they are. :func:`measure_edits` turns the two texts into
the ``edit_distance`` and ``final_length`` fields of an outcome event, and the
texts go no further.

Examples
--------
>>> measure_edits("Take 1 tablet daily.", "Take 2 tablets daily.")
EditMeasure(edit_distance=2, draft_length=20, final_length=21)
"""

from __future__ import annotations

from typing import NamedTuple

from rapidfuzz.distance import Levenshtein


class EditMeasure(NamedTuple):
    """Character-level edit counts between a draft and its final text."""

    edit_distance: int
    draft_length: int
    final_length: int

    @property
    def burden(self) -> float:
        """``edit_distance / max(draft_length, final_length, 1)`` as DESIGN.md defines it."""
        return self.edit_distance / max(self.draft_length, self.final_length, 1)

    def outcome_fields(self) -> dict[str, int]:
        """The outcome-event fields: ``edit_distance`` and ``final_length``."""
        return {"edit_distance": self.edit_distance, "final_length": self.final_length}


def measure_edits(draft: str, final: str) -> EditMeasure:
    """Levenshtein distance (insertions, deletions, substitutions) from draft to final."""
    return EditMeasure(Levenshtein.distance(draft, final), len(draft), len(final))


def outcome_kind(draft: str, final: str | None) -> str:
    """``accepted`` when signed unchanged, ``edited`` when changed, ``rejected`` when discarded."""
    if final is None:
        return "rejected"
    return "accepted" if final == draft else "edited"
