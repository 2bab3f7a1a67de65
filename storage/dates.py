"""Dates as pages, feeds and listings give them: ISO 8601 text to aware datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

#: A date that a listing, a feed or an import gives is taken as the publication date from 1900
#: to two days after the page was fetched (time zones, a feed's clock); outside that, it is no
#: publication date ("0001-01-01", "3000-01-01": a broken feed or a hostile one) and is kept
#: in the page's meta instead (storage/documents.py). ``{when}``, ``{fetched}``: SQL values.
PLAUSIBLE_SQL = (
    "({when} BETWEEN TIMESTAMPTZ '1900-01-01 00:00:00+00' AND {fetched} + INTERVAL 2 DAY)"
)


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
