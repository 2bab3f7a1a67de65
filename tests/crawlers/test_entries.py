"""Entry-point parsers on stored fixtures: sitemaps, feeds, WordPress posts, Telegram pages,
article recognition."""

import gzip
import json

import pytest

from crawlers.demo import render
from crawlers.entries.feeds import parse_feed
from crawlers.entries.links import article_signal
from crawlers.entries.sitemaps import SitemapTooLarge, parse_sitemap, sitemap_body
from crawlers.entries.telegram import channel_url, parse_channel
from crawlers.entries.wordpress import parse_posts


def test_a_sitemap_indexs_children_come_newest_first():
    """A crawl reads a limited number of child sitemaps: the newest by lastmod come first,
    those without one after them in the index's order."""
    entries = [("old", "2026-01-01"), ("none-1", None), ("new", "2026-11-30T08:00:00+03:00"),
               ("mid", "2026-06-01"), ("none-2", "not a date")]  # fmt: skip
    index = "".join(
        f"<sitemap><loc>https://a.example/{name}.xml</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for name, lastmod in entries
    )
    xml = (
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{index}</sitemapindex>'
    )
    children, _ = parse_sitemap(xml.encode())
    assert children == [
        f"https://a.example/{n}.xml" for n in ("new", "mid", "old", "none-1", "none-2")
    ]


def test_sitemap_index_urlset_news_and_gzip():
    index = render.sitemap_index(["https://a.example/s1.xml.gz", "https://a.example/news.xml"])
    children, pages = parse_sitemap(index.encode())
    assert children == ["https://a.example/s1.xml.gz", "https://a.example/news.xml"] and not pages
    urlset = render.sitemap([("https://a.example/1", "2026-10-01"), ("https://a.example/2", "")])
    body = sitemap_body(gzip.compress(urlset.encode()), 1_000_000)
    _, pages = parse_sitemap(body)
    assert [(p.url, p.lastmod) for p in pages] == [
        ("https://a.example/1", "2026-10-01"),
        ("https://a.example/2", None),
    ]
    news = render.news_sitemap(
        [("https://a.example/n", "2026-10-02T08:00:00+03:00", "Заголовок", "ru")], "A"
    )
    _, [page] = parse_sitemap(news.encode())
    assert (page.title, page.published, page.lastmod) == (
        "Заголовок",
        "2026-10-02T08:00:00+03:00",
        "2026-10-02T08:00:00+03:00",
    )


def test_gzip_bomb_sitemap_is_refused_and_entities_are_not_expanded():
    bomb = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    assert len(bomb) < 10_000
    with pytest.raises(SitemapTooLarge):
        sitemap_body(bomb, 1_000_000)
    evil = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://a.example/&e;</loc></url></urlset>"
    )
    _, pages = parse_sitemap(evil)
    assert all("root:" not in p.url for p in pages)


def test_broken_feed_yields_what_parsed_and_a_warning():
    items = [{"title": f"t{i}", "url": f"https://a.example/{i}", "date": "2026-10-01T10:00:00+00:00",
              "summary": "s"} for i in range(3)]  # fmt: skip
    feed = render.rss(title="t", link="https://a.example/", items=items)
    truncated = feed[: feed.rindex("<item>")]  # cut inside the channel
    links, warning = parse_feed(truncated.encode(), "application/rss+xml")
    assert [link.url for link in links] == ["https://a.example/0", "https://a.example/1"]
    assert warning and "malformed" in warning
    assert links[0].lastmod is None  # an RSS pubDate is not a modification date
    atom = render.atom(title="b", link="https://b.example/", items=items)
    links, warning = parse_feed(atom.encode(), "application/atom+xml")
    assert len(links) == 3 and warning is None


def test_wordpress_posts_carry_clean_bodies_authors_and_categories():
    post = render.wp_rest_post(
        7, "https://wp.example/2026/10/x/",
        {"title": "A &amp; B", "date": "2026-10-01T10:00:00", "slug": "x", "author": "Ivan"},
        ["First paragraph.", "Second paragraph."],
    )  # fmt: skip
    [parsed] = parse_posts(json.dumps([post]).encode())
    assert parsed.author == "Ivan" and parsed.categories == ["Analytics"]
    assert parsed.meta["tags"] == ["Europe"] and parsed.meta["wp_id"] == 7
    assert parsed.published == "2026-10-01T10:00:00+00:00"
    assert "<p>Second paragraph.</p>" in parsed.html and "comment" not in parsed.html
    with pytest.raises(ValueError):
        parse_posts(b'{"code": "rest_no_route"}')


def test_telegram_preview_page():
    posts = [
        {"id": 41, "text": "Первая строка\nвторая строка", "views": "1.2K",
         "date": "2026-10-01T09:00:00+00:00", "links": ["https://news.example/a"]},
        {"id": 42, "text": "Repost", "views": "980", "date": "2026-10-01T10:00:00+00:00",
         "forwarded_from": "otherchannel"},
    ]  # fmt: skip
    html = render.telegram_preview("demo_channel", "Demo", posts, before=41)
    parsed, before = parse_channel(html)
    assert before == 41
    first, second = parsed
    assert first.url == "https://t.me/demo_channel/41" and first.views == 1200
    assert first.text.startswith("Первая строка\nвторая строка")
    assert first.links == ["https://news.example/a"] and first.published.startswith("2026-10-01")
    assert second.forwarded_from == "otherchannel" and second.views == 980
    assert channel_url("@demo_channel") == "https://t.me/s/demo_channel"


def test_article_recognition(seed_html):
    assert article_signal(seed_html) is not None
    ld = '<script type="application/ld+json">{"@type": "NewsArticle"}</script>'
    assert article_signal(f"<html><head>{ld}</head><body><p>x</p></body></html>") == "json-ld"
    og = '<meta property="og:type" content="article">'
    assert article_signal(f"<html><head>{og}</head><body></body></html>") == "og:type"
    listing = "<html><body>" + "<a href='/x'>headline</a>" * 50 + "</body></html>"
    assert article_signal(listing) is None


def test_the_example_sources_file_parses_and_sources_need_an_entry_point(tmp_path):
    from crawlers.sources import SourcesError, load_sources
    from tests.conftest import ROOT

    kinds = {s.name: s.kinds for s in load_sources(ROOT / "sources.example.toml")}
    assert kinds["example-wp"] == ["feeds", "sitemaps", "wordpress"]
    assert {"telegram", "links", "sitemaps"} <= {k for ks in kinds.values() for k in ks}
    bad = tmp_path / "bad.toml"
    bad.write_text('[[source]]\nname = "x"\nhome = "https://x.example/"\n')
    with pytest.raises(SourcesError, match="no entry point"):
        load_sources(bad)
    bad.write_text('[[source]]\nname = "x"\nhome = "https://x.example/"\nfollow_links = true\n'
                   'exclude = ["("]\n')  # fmt: skip
    with pytest.raises(SourcesError, match="bad pattern"):
        load_sources(bad)


def test_rdf_feed():
    rdf = (
        '<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://r.example/"><title>R</title><link>https://r.example/</link>'
        "</channel>"
        '<item rdf:about="https://r.example/1"><title>Один</title><link>https://r.example/1</link>'
        "<dc:date>2026-10-01T10:00:00+03:00</dc:date></item></rdf:RDF>"
    )
    [link], warning = parse_feed(rdf.encode(), "application/rdf+xml")
    assert (link.url, link.title, warning) == ("https://r.example/1", "Один", None)
    assert link.published.startswith("2026-10-01T07:00")


def test_warc_files_rotate_by_size(tmp_path):
    from warcio.archiveiterator import ArchiveIterator

    from crawlers.warc import WarcArchive

    archive = WarcArchive(tmp_path, "run1", max_bytes=3000)
    places = [archive.write(f"https://a.example/{i}", 200, [("Content-Type", "text/html")],
                            bytes(range(256)) * 8) for i in range(6)]  # fmt: skip
    archive.close()
    files = sorted({file for file, _, _ in places})
    assert len(files) >= 2 and all("narrascope-run1-" in f for f in files)
    for i, (file, offset, _) in enumerate(places):
        with open(file, "rb") as f:
            f.seek(offset)
            record = next(iter(ArchiveIterator(f)))
        assert record.rec_headers.get_header("WARC-Target-URI") == f"https://a.example/{i}"
