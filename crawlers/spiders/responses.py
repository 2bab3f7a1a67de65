"""What the spider makes of a response or a failed request: HTML decoded (or the reason it is
unusable), and a failure's rejection reason."""

from __future__ import annotations

from urllib.parse import urlsplit

import scrapy

HTML_TYPES = ("text/html", "application/xhtml+xml")


class Unusable(Exception):
    """A fetched page that cannot be stored as HTML: ``reason`` (a rejection reason) and
    ``detail``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _detect(body: bytes) -> str | None:
    """Last resort for pages that declare no encoding (charset-normalizer)."""
    from charset_normalizer import from_bytes

    best = from_bytes(body[:200_000]).best()
    return best.encoding if best else None


def content_type(response) -> str:
    return response.headers.get("Content-Type", b"").decode("latin-1")


def is_html(response) -> bool:
    declared = content_type(response).lower()
    return isinstance(response, scrapy.http.TextResponse) and (
        not declared or declared.startswith(HTML_TYPES)
    )


def decode_html(response, max_replacement_share: float) -> tuple[str, str]:
    """(encoding, HTML) of an HTML response with a body: its declared encoding, else the one
    its body names, else a guess. Raises Unusable for binary content and for bodies with more
    than ``max_replacement_share`` of their characters undecodable."""
    from w3lib.encoding import html_to_unicode

    encoding, html = html_to_unicode(
        content_type(response) or None, response.body, auto_detect_fun=_detect
    )
    from pipeline.textnorm import without_stray_nuls

    html = without_stray_nuls(html)  # before, one stray NUL rejected a whole article
    if html is None:
        raise Unusable("not_html", "body contains NUL bytes (binary content)")
    bad = html.count("\ufffd")
    if bad > max_replacement_share * len(html):
        raise Unusable("undecodable", f"{bad} of {len(html)} characters undecodable as {encoding}")
    return encoding, html


def failure_reason(failure) -> tuple[str, str] | None:
    """(rejection reason, message) of a failed request; None where it was not fetched because
    the run's time was up (the next run fetches it). The message of a body that streamed past
    the size limit is empty where scrapy's is (a body of no stated length)."""
    from scrapy.exceptions import CannotResolveHostError, DownloadCancelledError, IgnoreRequest
    from twisted.internet.error import DNSLookupError

    from crawlers.deadline import StoppedForTime
    from crawlers.headers import MARK as HEADERS_MARK
    from crawlers.safety import PrivateAddressRefused, RedirectLoop, SchemeRefused, refused_answer
    from crawlers.warc import NotArchived

    if failure.check(StoppedForTime, NotArchived):  # our side stopped: fetched next run
        return None
    url = failure.request.url
    message = str(failure.value)
    if failure.check(PrivateAddressRefused):
        return "private_address", message
    if failure.check(SchemeRefused):
        return "unsupported_scheme", message
    if failure.check(DNSLookupError, CannotResolveHostError) and (
        answer := refused_answer(urlsplit(url).hostname, forget=True)
    ):  # resolved when connecting, after the middleware's lookup had failed or differed
        return "private_address", f"refused non-public address {answer} when connecting ({url})"
    if failure.check(DownloadCancelledError) or "DOWNLOAD_MAXSIZE" in message:
        return "too_large", message  # streamed past the limit, or a body inflating past it
    if HEADERS_MARK in message:  # headers without end (crawlers/headers.py)
        return "too_large", message
    if failure.check(RedirectLoop) or "max redirections" in message.lower():
        return "redirect_loop", message
    if failure.check(IgnoreRequest) and "robots.txt" in message.lower():
        return "robots_txt", message
    return "fetch_error", message
