"""Time-boxed runs (`narrascope run --max-duration 50m`): the limit, and when crawling must
stop so that what it fetched can still be processed within it.

A run has one deadline. Crawling stops early enough to leave the processing of what it
fetched (and of what earlier runs left waiting) time to finish: the reserve grows with every
page fetched, at the rate past runs processed documents (``runs`` summaries), plus the
download timeout (requests in flight when the crawl stops are finished, not dropped).
Processing then goes batch by batch and does not start a batch it expects to end past the
deadline. What is left waits for the next run; nothing is lost.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import click

#: Seconds of processing per document assumed when no earlier run says (a guess on the safe
#: side for the default stages on two cores: translation and embedding dominate).
DEFAULT_SECONDS_PER_DOC = 1.0

#: Share of the limit always kept for processing, alerts and closing, however fast past runs
#: processed: model loading alone takes seconds.
MIN_RESERVE_SHARE = 0.1

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")


def parse_duration(text: str) -> float:
    """Seconds in "50m", "1h30m", "90s", "1.5h" or a plain number of seconds."""
    text = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    elif text and _PART.sub("", text) == "":
        scale = {"h": 3600, "m": 60, "s": 1}
        seconds = sum(float(n) * scale[unit] for n, unit in _PART.findall(text))
    else:
        raise ValueError(f"{text!r} is not a duration: write e.g. 50m, 1h30m, 90s or 3600")
    if seconds <= 0:
        raise ValueError("a duration must be more than 0 seconds")
    return seconds


class Duration(click.ParamType):
    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes else []
    return "".join(parts + ([f"{secs}s"] if secs or not parts else []))


@dataclass
class Deadline:
    """A run's time limit, on the wall clock (``time.time``): the crawl's scrapy extension
    reads it from the settings, the stage runner from here."""

    limit: float  # seconds
    started: float = field(default_factory=time.time)

    @property
    def at(self) -> float:
        return self.started + self.limit

    def elapsed(self) -> float:
        return time.time() - self.started

    def leaves_no_crawl(self, timeout: float) -> str | None:
        """Why this limit leaves too little time to crawl (every run would stop its crawl at
        once, or after a page, and still say the next run goes on), or None. The crawl keeps
        ``timeout`` (the download timeout) back for the requests in flight when it stops, so
        the limit must be at least twice that: as much time to crawl as is kept back."""
        if self.limit >= 2 * timeout:
            return None
        return (
            f"--max-duration {format_seconds(self.limit)} leaves too little time to crawl: a "
            "request in flight when the crawl stops may take the download timeout ([crawl] "
            f"timeout = {format_seconds(timeout)}) to finish, so that much is kept back; give "
            f"at least {format_seconds(2 * timeout)}, or a shorter [crawl] timeout"
        )

    def crawl_stop_at(self, seconds_per_doc: float, waiting: int, timeout: float) -> float:
        """When crawling must stop if nothing more were fetched: before the reserve for the
        ``waiting`` documents, the download timeout and the fixed share of the limit. Every
        page fetched moves it ``seconds_per_doc`` earlier (crawlers/deadline.py)."""
        reserve = max(self.limit * MIN_RESERVE_SHARE, timeout) + seconds_per_doc * waiting
        return self.at - reserve


def seconds_per_document(recent: list[dict], min_docs: int = 20) -> float:
    """Processing seconds per document, from recent process runs' summaries (newest first):
    per run, the sum over its stages of seconds per document, counting stages that handled at
    least ``min_docs`` (a model's loading time spread over a handful would mislead); the
    largest of the recent runs' estimates, or ``DEFAULT_SECONDS_PER_DOC`` without one."""
    estimates = []
    for summary in recent:
        per_doc = 0.0
        counted = False
        for stage in summary.values():
            if not isinstance(stage, dict) or "seconds" not in stage:
                continue
            docs = (stage.get("done") or 0) + (stage.get("rejected") or 0)
            if docs >= min_docs:
                per_doc += float(stage["seconds"]) / docs
                counted = True
        if counted:
            estimates.append(per_doc)
    return max(estimates) if estimates else DEFAULT_SECONDS_PER_DOC
