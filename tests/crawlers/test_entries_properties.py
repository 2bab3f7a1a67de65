"""Hostile and malformed listings through the entry-point parsers (issue 14): feeds,
sitemaps, Telegram channel pages, WordPress API answers and article recognition return what
they could read, with every string in it storable, or raise their one documented error; the
named extremes (a 20 MB item, nesting 100,000 deep, truncated UTF-8, mixed encodings, a gzip
bomb, empty input) cost bounded time.
"""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from crawlers.demo import render
from crawlers.entries import Link
from crawlers.entries.feeds import parse_feed
from crawlers.entries.links import article_signal
from crawlers.entries.sitemaps import SitemapTooLarge, parse_sitemap, sitemap_body
from crawlers.entries.telegram import parse_channel
from crawlers.entries.wordpress import Post, parse_posts
from tests.support.strategies import (
    assert_storable,
    hostile_text,
    json_values,
    nested,
    pages,
    within,
)

PARSERS = settings(max_examples=60, deadline=None)


def check_links(links) -> None:
    assert all(isinstance(link, Link) and isinstance(link.url, str) and link.url for link in links)
    assert_storable(links)


@PARSERS
@given(body=st.binary(max_size=2000) | pages.map(str.encode) | st.builds(
    lambda items, enc: render.rss(title="T", link="https://f.example/", items=items,
                                  encoding=enc).encode("utf-8", "replace"),
    st.lists(st.fixed_dictionaries({"title": hostile_text, "url": hostile_text,
                                    "summary": hostile_text, "date": st.just("2026-10-01")}),
             max_size=3),
    st.sampled_from(["UTF-8", "windows-1251", "utf-16", "x-nonsense"])))  # fmt: skip
@example(body=b"<>&#xD800;")  # feedparser's loose parser raised UnicodeEncodeError
@example(body=b'<rss><channel><item><title>&#xD800;</title><link>https://f.example/</link>'
              b"</item></channel></rss>")  # fmt: skip
def test_feeds_parse_whatever_they_can(body):
    links, warning = parse_feed(body, "application/rss+xml")
    check_links(links)
    assert warning is None or isinstance(warning, str)


@PARSERS
@given(body=st.binary(max_size=2000) | st.builds(
    render.sitemap, st.lists(st.tuples(hostile_text, hostile_text), max_size=3)).map(str.encode),
    gz=st.booleans())  # fmt: skip
def test_sitemaps_parse_whatever_they_can_and_never_inflate_past_the_limit(body, gz):
    if gz:
        body = gzip.compress(body)
    try:
        xml = sitemap_body(body, 1_000)
    except SitemapTooLarge:
        assert gz
        return
    assert len(xml) <= max(1_000, len(body))
    children, links = parse_sitemap(xml)
    check_links(links)
    assert all(isinstance(child, str) and child for child in children)


telegram_posts = st.fixed_dictionaries({
    "id": st.sampled_from(["1", "²", "9" * 5000, "", "12a"]) | hostile_text,
    "text": hostile_text, "views": st.sampled_from(["1.2K", "1.2.3", ".", "9" * 400, "3M"]) |
    hostile_text, "date": hostile_text.map(lambda t: "2026-10-01T10:00:00+00:00" + t),
})  # fmt: skip


@PARSERS
@given(html=pages | st.builds(lambda posts, before: render.telegram_preview(
    "chan", "T", posts, before), st.lists(telegram_posts, max_size=3),
    st.sampled_from([None, 5, "²", "9" * 5000])))  # fmt: skip
def test_telegram_pages_give_posts_with_numeric_ids(html):
    posts, before = parse_channel(html)
    assert before is None or isinstance(before, int)
    for post in posts:
        assert isinstance(post.post_id, int) and isinstance(post.text, str)
        assert post.views is None or isinstance(post.views, int)
    assert_storable(posts)


@PARSERS
@given(body=st.binary(max_size=500) | st.lists(
    st.fixed_dictionaries({"link": json_values | hostile_text}, optional={
        k: json_values for k in ("title", "content", "date_gmt", "modified_gmt", "_embedded", "id")
    }) | json_values, max_size=3).map(lambda items: json.dumps(items).encode()))  # fmt: skip
@example(body=b'[{"link": "https://w.example/\\ud800", "title": {"rendered": "\\udfff"}}]')
@example(
    body=json.dumps(
        [
            {
                "link": "https://w.example/1",
                "title": "t",
                "_embedded": {
                    "wp:term": [[1, {"taxonomy": "category", "name": 2}]],
                    "author": {"name": "x"},
                },
            }
        ]
    ).encode()
)
def test_wordpress_posts_or_a_value_error(body):
    try:
        posts = parse_posts(body)
    except ValueError:
        return
    for post in posts:
        assert isinstance(post, Post) and isinstance(post.url, str) and post.url
        assert isinstance(post.title, str) and isinstance(post.html, str)
    assert_storable(posts)


@PARSERS
@given(
    html=pages
    | st.builds(
        lambda data: f'<script type="application/ld+json">{json.dumps(data)}</script>', json_values
    )
)
@example(html='<script type="application/ld+json">{"@graph": 5}</script>')
@example(html='<script type="application/ld+json">{"@graph": {"@type": "NewsArticle"}}</script>')
def test_article_recognition_answers_for_any_page(html):
    assert article_signal(html) in (None, "og:type", "json-ld", "body length")


PARSER_EXTREMES = {
    "feed, 20 MB title": lambda: parse_feed(
        b"<rss><channel><item><title>" + b"x" * 20_000_000 + b"</title><link>https://f.example/1"
        b"</link></item></channel></rss>"),
    "feed, 100,000 deep": lambda: parse_feed(b"<rss><channel>" + nested("<item>", "").encode()),
    "feed, truncated UTF-8": lambda: parse_feed(render.rss(title="T", link="https://f.example/",
        items=[{"title": "Заголовок", "url": "https://f.example/1", "summary": "Текст",
                "date": "2026-10-01"}]).encode()[:-30] + "Ж".encode()[:1]),
    "feed, mixed encodings": lambda: parse_feed(
        b'<?xml version="1.0" encoding="utf-8"?><rss><channel><item><title>'
        + "Заголовок".encode("cp1251") + "Заголовок".encode()
        + b"</title><link>https://f.example/1</link></item></channel></rss>"),
    "feed, empty": lambda: parse_feed(b""),
    "sitemap, 20 MB loc": lambda: parse_sitemap(render.sitemap([("x" * 20_000_000, "")]).encode()),
    "sitemap, 100,000 deep": lambda: parse_sitemap(render.sitemap([]).encode().replace(
        b"</urlset>", nested("<url>", "</url>", inner="<loc>https://s.example/</loc>").encode())),
    "sitemap, gzip bomb": lambda: sitemap_body(gzip.compress(b"\0" * 20_000_000), 1_000_000),
    "sitemap, empty": lambda: parse_sitemap(b""),
    "telegram, 20 MB post": lambda: parse_channel(render.telegram_preview("c", "T", [
        {"id": 1, "text": "x" * 20_000_000, "views": "1", "date": "2026-10-01T10:00:00"}], 5)),
    "telegram, 100,000 deep": lambda: parse_channel(nested("<div>", "</div>")),
    "telegram, empty": lambda: parse_channel(""),
    "wordpress, 100,000 deep": lambda: parse_posts(nested("[", "]").encode()),
    "wordpress, empty": lambda: parse_posts(b""),
    "article, 100,000 deep JSON-LD": lambda: article_signal(
        f'<script type="application/ld+json">{nested("[", "]")}</script>'),
}  # fmt: skip


@pytest.mark.parametrize("case", PARSER_EXTREMES)
def test_parser_extremes_return_or_raise_their_error_in_bounded_time(case):
    with within(30):
        try:
            result = PARSER_EXTREMES[case]()
        except (SitemapTooLarge, ValueError) as err:
            assert case.startswith(("sitemap, gzip", "wordpress")), err
            return
    if case.startswith("feed, 20 MB") or case.startswith("telegram, 20 MB"):
        [item] = result[0]
        assert len(getattr(item, "title", None) or item.text) == 20_000_000
    if case.startswith("feed, truncated") or case.startswith("feed, mixed"):
        assert [link.url for link in result[0]] == ["https://f.example/1"] and result[1]
