"""Feed spider: RSS/Atom/RDF feeds of each source, then every article they link."""

from __future__ import annotations

from datetime import UTC, datetime

import scrapy
from scrapy.http import TextResponse

from crawlers.sources import Source
from storage.records import PageRecord, Rejection

HTML_TYPES = ("text/html", "application/xhtml+xml")


def _utc_iso(struct_time) -> str | None:
    if not struct_time:
        return None
    return datetime(*struct_time[:6], tzinfo=UTC).isoformat()


class FeedSpider(scrapy.Spider):
    name = "feeds"

    def __init__(self, sources: list[Source], max_replacement_share: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.sources = sources
        self.max_replacement_share = max_replacement_share
        self._scheduled: dict[str, int] = {}

    async def start(self):
        for source in self.sources:
            for feed in source.feeds:
                yield scrapy.Request(
                    feed,
                    callback=self.parse_feed,
                    errback=self.failed,
                    cb_kwargs={"source": source},
                    meta={
                        "allow_private": source.allow_private,
                        "download_delay": source.crawl_delay,
                    },
                )

    def parse_feed(self, response, source: Source):
        import feedparser

        parsed = feedparser.parse(
            response.body,
            response_headers={
                "content-type": response.headers.get("Content-Type", b"").decode("latin-1")
            },
        )
        if parsed.bozo:
            self.logger.warning(
                "feed %s is malformed (%s); using what parsed",
                response.url,
                parsed.get("bozo_exception"),
            )
        for entry in parsed.entries:
            link = entry.get("link")
            if not link:
                continue
            url = response.urljoin(link)
            if not source.allows(url):
                self.logger.info("skipping %s: outside %s's allowed domains", url, source.name)
                continue
            if self._scheduled.get(source.name, 0) >= source.max_pages:
                break
            self._scheduled[source.name] = self._scheduled.get(source.name, 0) + 1
            # per-request context travels in cb_kwargs, never in a closure over the loop
            yield response.follow(
                url,
                callback=self.parse_page,
                errback=self.failed,
                cb_kwargs={
                    "source": source,
                    "title": entry.get("title"),
                    "published": _utc_iso(
                        entry.get("published_parsed") or entry.get("updated_parsed")
                    ),
                },
                meta={"allow_private": source.allow_private},
            )

    def parse_page(self, response, source: Source, title=None, published=None):
        content_type = response.headers.get("Content-Type", b"").decode("latin-1").lower()
        reject = lambda reason, detail: Rejection(  # noqa: E731
            "crawl", reason, detail, url=response.url, source=source.name
        )
        if not isinstance(response, TextResponse) or (
            content_type and not content_type.startswith(HTML_TYPES)
        ):
            yield reject("not_html", f"content type {content_type or 'unknown'}")
            return
        if not response.body.strip():
            yield reject("empty_body", f"HTTP {response.status} with an empty body")
            return
        html = response.text
        if "\x00" in html:
            yield reject("not_html", "body contains NUL bytes (binary content)")
            return
        bad = html.count("\ufffd")
        if bad > self.max_replacement_share * len(html):
            yield reject(
                "undecodable", f"{bad} of {len(html)} characters undecodable as {response.encoding}"
            )
            return
        yield PageRecord(
            url=response.url,
            source=source.name,
            origin="crawl",
            fetched_at=datetime.now(UTC),
            html=html,
            http_status=response.status,
            content_type=content_type or None,
            encoding=response.encoding,
            hint_title=title,
            hint_published_at=published,
        )

    def failed(self, failure):
        from scrapy.exceptions import DownloadCancelledError

        from crawlers.safety import PrivateAddressRefused

        request = failure.request
        source = request.cb_kwargs.get("source")
        if failure.check(PrivateAddressRefused):
            reason = "private_address"
        elif failure.check(DownloadCancelledError):
            reason = "too_large"
        else:
            reason = "fetch_error"
        yield Rejection(
            "crawl",
            reason,
            f"{failure.type.__name__}: {failure.value}",
            url=request.url,
            source=source.name if source else None,
        )
