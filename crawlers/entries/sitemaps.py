"""Sitemaps: sitemap indexes, urlsets and Google News sitemaps, plain or gzipped."""

from __future__ import annotations

from crawlers.entries import Link

_NS = {
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


class SitemapTooLarge(ValueError):
    """A gzipped sitemap is broken or inflates past the size limit (a gzip bomb)."""


def sitemap_body(body: bytes, max_bytes: int) -> bytes:
    """The XML of a sitemap response: gunzipped (within ``max_bytes``) when it is gzip data."""
    if body[:2] != b"\x1f\x8b":
        return body
    import zlib

    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        xml = inflate.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise SitemapTooLarge(f"not valid gzip data: {err}") from err
    if len(xml) > max_bytes or inflate.unconsumed_tail:
        raise SitemapTooLarge(f"gzipped sitemap inflates past {max_bytes} bytes")
    return xml


def parse_sitemap(xml: bytes) -> tuple[list[str], list[Link]]:
    """(child sitemaps, pages). Child sitemaps come newest first by their ``lastmod`` (those
    without one after, in the index's order): a crawl reads a limited number of them, and an
    index of archives lists the oldest first as often as not. News sitemaps give each page
    its title and publication date; ``lastmod`` (or the news publication date) says when a
    page last changed."""
    from lxml import etree

    # no entity resolution, no network: sitemaps are untrusted input
    parser = etree.XMLParser(recover=True, remove_comments=True, resolve_entities=False,
                             no_network=True, huge_tree=False)  # fmt: skip
    try:
        root = etree.fromstring(xml.strip(), parser=parser)
    except etree.XMLSyntaxError:
        return [], []
    if root is None:
        return [], []

    def text(el, path):
        found = el.find(path, _NS)
        return found.text.strip() if found is not None and found.text else None

    children = _newest_first(
        [
            (t, text(el, "sm:lastmod"))
            for el in root.iterfind("sm:sitemap", _NS)
            if (t := text(el, "sm:loc"))
        ]  # fmt: skip
    )
    pages = []
    for el in root.iterfind("sm:url", _NS):
        loc = text(el, "sm:loc")
        if not loc:
            continue
        published = text(el, "news:news/news:publication_date")
        pages.append(
            Link(
                loc,
                text(el, "news:news/news:title"),
                published,
                text(el, "sm:lastmod") or published,
            )  # fmt: skip
        )
    return children, pages


def _newest_first(children: list[tuple[str, str | None]]) -> list[str]:
    from storage.dates import parse_date

    dated = [(loc, parse_date(lastmod)) for loc, lastmod in children]
    dated.sort(key=lambda c: (c[1] is None, -c[1].timestamp() if c[1] else 0))  # stable
    return [loc for loc, _ in dated]
