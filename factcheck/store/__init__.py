"""Verdict records: every served verdict stored with its context, reviewed by people, published as ClaimReview."""

from ..settings import Settings
from .base import VerdictStore
from .models import (
    CheckContext,
    NewRecord,
    RecordPage,
    RecordQuery,
    Review,
    ReviewEvent,
    ReviewInput,
    VerdictRecord,
    normalise_claim,
    record_id,
)
from .sql import SqlVerdictStore


def open_store(settings: Settings) -> SqlVerdictStore:
    """The store the settings name (nothing connects until it is first used)."""
    return SqlVerdictStore(
        settings.resolved_db_url(),
        connect_timeout_s=settings.db_connect_timeout_s,
        retry_after_s=settings.db_retry_after_s,
    )


__all__ = [
    "CheckContext",
    "NewRecord",
    "RecordPage",
    "RecordQuery",
    "Review",
    "ReviewEvent",
    "ReviewInput",
    "SqlVerdictStore",
    "VerdictRecord",
    "VerdictStore",
    "normalise_claim",
    "open_store",
    "record_id",
]
