"""Dates as pages, feeds and listings give them: ISO 8601 text to aware datetimes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

#: A date that a listing, a feed or an import gives is taken as the publication date from 1900
#: to two days after the page was fetched (time zones, a feed's clock); outside that, it is no
#: publication date ("0001-01-01", "3000-01-01": a broken feed or a hostile one) and is kept
#: in the page's meta instead (storage/documents.py). ``{when}``, ``{fetched}``: SQL values.
PLAUSIBLE_SQL = (
    "({when} BETWEEN TIMESTAMPTZ '1900-01-01 00:00:00+00' AND {fetched} + INTERVAL 2 DAY)"
)

#: ... and it is written as a date: DuckDB also reads the word "epoch" (1970-01-01), which an
#: exporter's placeholder or a hostile feed gives as the date of everything it lists
WRITTEN_SQL = "regexp_matches({when}, '^\\s*[+-]?[0-9]')"


#: the widest UTC offsets in use, in minutes (UTC-12 to UTC+14); DuckDB reads "+99:00" too
OFFSET_RANGE = {"-": 12 * 60, "+": 14 * 60}
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*([+-])(\d{2}):?(\d{2})\s*$")


def impossible_offset(value: str) -> bool:
    """Whether a timestamp's UTC offset is one no place has (beyond -12:00 to +14:00, or
    minutes past 59): "2026-01-01T00:00:00+99:00" would move the date by four days."""
    found = _OFFSET.search(value)
    if not found:
        return False
    hours, minutes = int(found[2]), int(found[3])
    return minutes > 59 or hours * 60 + minutes > OFFSET_RANGE[found[1]]


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


#: how late a listing's time of a page's last change may be: the site's clock may lag ours,
#: and a change in the second of our fetch bears that second
LASTMOD_SLACK = timedelta(minutes=5)


def changed_by(value: str | None) -> datetime | None:
    """The latest time a listing's "last changed" (a sitemap's ``lastmod``, a feed's
    ``updated``) can mean. A date alone is the end of that day in the time zone furthest
    behind UTC (UTC-12): a page fetched on the day it changed is asked for again until then,
    not skipped as changed at midnight. A time is taken ``LASTMOD_SLACK`` late."""
    parsed = parse_date(value)
    if parsed is None:
        return None
    text = value.strip()
    try:
        if len(text) <= 10 and not any(c in text for c in "T :"):  # 2026-12-05, 20261205
            return parsed + timedelta(days=1, hours=12)
        return parsed + LASTMOD_SLACK
    except OverflowError:  # "9999-12-31": no time a page changed by (a hostile listing)
        return None
