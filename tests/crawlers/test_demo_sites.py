"""The demo sites serve what later spiders read: feeds, sitemaps, a paged WP REST API, cp1251."""

import json
from urllib.request import urlopen

from crawlers.demo.server import DemoSites


def test_demo_sites_serve_feeds_sitemap_and_a_paged_wordpress_api():
    with DemoSites() as sites:
        wp = sites.urls["demo-wp"]
        with urlopen(wp + "wp-json/wp/v2/posts?per_page=5&page=2") as resp:
            posts = json.loads(resp.read())
            assert resp.headers["X-WP-Total"] == "13"
            assert resp.headers["X-WP-TotalPages"] == "3"
        assert len(posts) == 5 and all(p["content"]["rendered"].startswith("<p>") for p in posts)
        with urlopen(wp + "sitemap.xml") as resp:
            assert resp.read().count(b"<loc>") == 13
        with urlopen(sites.urls["demo-mirror"] + "feed/") as resp:
            assert resp.headers["Content-Type"] == "application/rss+xml; charset=windows-1251"
            feed = resp.read()
        assert "Перемирие".encode("cp1251") in feed
