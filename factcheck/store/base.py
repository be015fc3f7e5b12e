"""The verdict store seam: what the API and CLI need from any backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from .models import NewRecord, RecordPage, RecordQuery, ReviewInput, VerdictRecord


class VerdictStore(Protocol):
    """Stored verdicts and their reviews; every method raises StoreUnavailableError when the database is down."""

    url: str

    def get_many(self, ids: Sequence[str]) -> dict[str, VerdictRecord]:
        """The records among `ids` that exist (without events)."""
        ...

    def add(self, records: Sequence[NewRecord]) -> list[VerdictRecord]:
        """Store new records in one transaction; an id already stored returns the stored record instead."""
        ...

    def get(self, verdict_id: str) -> VerdictRecord:
        """One record with its events (VerdictNotFoundError when absent)."""
        ...

    def find(self, query: RecordQuery) -> RecordPage:
        """Records matching the filters, newest first, one page at a time."""
        ...

    def iter_all(self, query: RecordQuery) -> Iterator[VerdictRecord]:
        """Every record matching the filters, newest first (pages fetched as needed)."""
        ...

    def review(
        self, verdict_id: str, review: ReviewInput, expected_version: int, *, api_key_name: str | None = None
    ) -> VerdictRecord:
        """Record a review (StaleReviewError when the record is no longer at `expected_version`)."""
        ...

    def health(self) -> dict[str, Any]:
        """Where the store is and whether its last use failed (no database round trip)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
