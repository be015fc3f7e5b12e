"""schema.org ClaimReview JSON-LD for stored verdicts, singly or as a DataFeed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..settings import Settings
from .models import VerdictRecord

SCHEMA_ORG = "https://schema.org"
BEST_RATING, WORST_RATING = 5, 1
# schema.org has no "machine-generated" flag: the status says it, and so does the explanation readers see.
MACHINE_STATUS = "MachineGenerated"
REVIEWED_STATUS = "Reviewed"
MACHINE_NOTE = "Machine-generated verdict, not yet reviewed by a person."


def claim_review(
    record: VerdictRecord, settings: Settings, *, url: str | None = None, context: bool = True
) -> dict[str, Any]:
    """The record as a ClaimReview: the published label rated 1-5 by the configured mapping."""
    review = record.review
    rating = settings.claimreview_ratings[record.published_label]
    if review is not None:
        explanation = review.note
        alternate = review.rating_text or rating.name
    else:
        explanation = f"{record.verdict.explanation} {MACHINE_NOTE}".strip()
        alternate = rating.name
    reviews = [e for e in record.events]
    first_published = reviews[0].at if reviews else (review.at if review else record.created_at)
    claim: dict[str, Any] = {"@type": "Claim", "text": record.claim}
    if record.context.page_url:
        claim["appearance"] = {"@type": "CreativeWork", "url": record.context.page_url}
    author: dict[str, Any] = {"@type": "Organization", "name": settings.claimreview_author}
    if settings.claimreview_author_url:
        author["url"] = settings.claimreview_author_url
    doc: dict[str, Any] = {"@context": SCHEMA_ORG} if context else {}
    doc.update(
        {
            "@type": "ClaimReview",
            "identifier": record.id,
            "claimReviewed": record.claim,
            "itemReviewed": claim,
            "author": author,
            "datePublished": _day(first_published),
            "creativeWorkStatus": REVIEWED_STATUS if review is not None else MACHINE_STATUS,
            "reviewRating": {
                "@type": "Rating",
                "ratingValue": rating.value,
                "bestRating": BEST_RATING,
                "worstRating": WORST_RATING,
                "alternateName": alternate,
                "ratingExplanation": explanation,
            },
        }
    )
    if url:
        doc["url"] = url
    if review is not None and review.at.date() != first_published.date():
        doc["dateModified"] = _day(review.at)
    corrections = [f"{_day(e.at)}: {e.reason}" for e in reviews if e.kind == "correction" and e.reason]
    if corrections:
        doc["correction"] = corrections
    cited = {c.url: c for c in record.verdict.citations if c.url}
    if cited:
        doc["citation"] = [_cited_work(url, c.title, c.published) for url, c in cited.items()]
    return doc


def _cited_work(url: str, title: str | None, published: Any) -> dict[str, Any]:
    work: dict[str, Any] = {"@type": "CreativeWork", "url": url}
    if title:
        work["name"] = title
    if published:
        work["datePublished"] = published.isoformat()
    return work


def _day(at: datetime) -> str:
    return at.astimezone(UTC).date().isoformat()


def claim_review_feed(
    records: list[VerdictRecord], settings: Settings, *, base_url: str | None = None
) -> dict[str, Any]:
    """A schema.org DataFeed of ClaimReviews (the shape fact-check feeds are published in)."""
    items = []
    for r in records:
        url = f"{base_url.rstrip('/')}/verdicts/{r.id}" if base_url else None
        items.append(
            {
                "@type": "DataFeedItem",
                "dateCreated": r.created_at.isoformat(),
                "dateModified": r.updated_at.isoformat(),
                "item": claim_review(r, settings, url=url, context=False),
            }
        )
    return {
        "@context": SCHEMA_ORG,
        "@type": "DataFeed",
        "dateModified": datetime.now(UTC).isoformat(),
        "dataFeedElement": items,
    }
