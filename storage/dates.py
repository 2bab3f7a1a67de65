"""Dates as pages, feeds and listings give them: ISO 8601 text to aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_date(value: str | None) -> datetime | None:
    """ISO date or timestamp to an aware datetime (UTC when no offset is given); None when
    absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
