"""The shared crawl's run-wide bookkeeping in Redis, one piece at a time (the whole crawl:
test_redis_frontier.py): what two crawlers count once between them, and what a crawler that
handles a request again does not count twice."""

from __future__ import annotations

import time

from crawlers.frontier import reset
from crawlers.frontier.spider import FrontierSpider
from crawlers.sources import Source


def test_a_listing_page_handled_again_counts_once(redis_url):
    """A crawler that died after handling a WordPress listing page, before it let go of it:
    the page is handled again, yet counted once (page budget, pages left), so the listing's
    watermark waits for every page, and page 1 handled again does not restart the count."""
    import json

    import redis
    from scrapy.http import Request, TextResponse

    from storage.records import EntryState, PageRecord

    client = redis.Redis.from_url(redis_url)
    reset(client)
    source = Source(name="wp", home="http://wp.example/", wordpress=True, max_pages=5)
    spider = FrontierSpider(sources=[source], db_path="", server=client, worker="w", wp_per_page=2)
    spider.budget.setdefault("wp", source.max_pages)

    def page(number: int) -> list:
        posts = [{"link": f"http://wp.example/{number}-{i}", "title": {"rendered": "t"},
                  "content": {"rendered": "<p>x</p>"}} for i in range(2)]  # fmt: skip
        url = f"http://wp.example/wp-json/wp/v2/posts?page={number}"
        response = TextResponse(url, body=json.dumps(posts).encode(), request=Request(url),
                                headers={"X-WP-TotalPages": "3"})  # fmt: skip
        return list(spider.parse_wordpress(response, source, number, "k", "2026-01-01",
                                           [[None, None]], 0, 3))  # fmt: skip

    def kinds(out: list) -> list[str]:
        return [type(x).__name__ for x in out if isinstance(x, PageRecord | EntryState)]

    assert kinds(page(1)) == ["PageRecord"] * 2
    assert kinds(page(2)) == ["PageRecord"] * 2
    assert kinds(page(2)) == ["PageRecord"] * 2  # again: its posts, no watermark yet
    assert kinds(page(1)) == ["PageRecord"] * 2  # again: still two pages to wait for
    # the last page: one post left in the budget of five, the listing's watermark and its
    # gaps (none: the post the budget left has no modification date to find it again by)
    assert kinds(page(3)) == ["PageRecord", "EntryState", "EntryState"]


def test_crawlers_share_a_hosts_download_delay(redis_url):
    """Two crawlers (two clients) asking for the same host get slots a delay apart; another
    host, or one without a delay, does not wait."""
    import redis

    from crawlers.frontier.politeness import SharedPoliteness

    one, two = (
        SharedPoliteness(redis.Redis.from_url(redis_url), 0.0, {"slow.example": 0.5})
        for _ in range(2)
    )
    starts = []  # when each request may start, on this machine's clock
    # a source's subdomains share its slot (they had one each: found by a helper's review)
    for crawler, host in ((one, "slow.example"), (two, "www.slow.example"), (one, "slow.example")):
        starts.append(time.monotonic() + crawler.reserve(host))
    # a delay apart however slowly the calls came (less a round trip to Redis, from which
    # the slot's time comes)
    assert starts[1] - starts[0] >= 0.45 and starts[2] - starts[1] >= 0.45
    assert two.reserve("fast.example") == 0.0


def sitemap_crawlers(redis_url, n: int = 2) -> tuple[Source, list[FrontierSpider]]:
    """``n`` crawlers of one run on a fresh frontier, with a source that lists sitemaps."""
    import redis
    from scrapy.settings import Settings

    from crawlers.spiders.sources import MAX_CHILD_SITEMAPS

    client = redis.Redis.from_url(redis_url)
    reset(client)
    source = Source(name="maps", home="http://maps.example/", max_pages=10_000)
    crawlers = [FrontierSpider(sources=[source], db_path="", server=client, worker=f"w{i}")
                for i in range(n)]  # fmt: skip
    crawlers[0].budget.setdefault("maps", source.max_pages)  # as start() sets them
    crawlers[0]._sitemaps_left.setdefault("maps", MAX_CHILD_SITEMAPS)
    for spider in crawlers:
        spider.settings = Settings({"DOWNLOAD_MAXSIZE": 1_000_000})  # as a crawl gives it
    return source, crawlers


def sitemap_index(name: str, children: int):
    """A sitemap index at http://maps.example/<name>.xml naming ``children`` sitemaps."""
    from scrapy.http import Request, TextResponse

    listed = "".join(f"<sitemap><loc>http://maps.example/{name}/{i}.xml</loc></sitemap>"
                     for i in range(children))  # fmt: skip
    body = f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{listed}'
    url = f"http://maps.example/{name}.xml"
    return TextResponse(url, body=(body + "</sitemapindex>").encode(), request=Request(url))


def test_two_crawlers_read_a_sources_child_sitemaps_to_one_limit(redis_url):
    """Two crawlers, each handling an index of 150 sitemaps of one source: 200 are requested
    between them, not 200 each, and the cut is recorded once."""
    from scrapy.http import Request

    from storage.records import Rejection

    source, crawlers = sitemap_crawlers(redis_url)
    out = []
    for n, spider in enumerate(crawlers):
        out += list(spider.parse_sitemap(sitemap_index(str(n), 150), source))
    requested = [x for x in out if isinstance(x, Request)]
    cuts = [x for x in out if isinstance(x, Rejection)]
    assert len(requested) == 200
    assert [(c.reason, c.url) for c in cuts] == [
        ("too_many_sitemaps", "http://maps.example/1/50.xml")
    ]


def test_an_index_handled_again_after_its_crawler_died_counts_once(redis_url):
    """A crawler dies after requesting 150 of an index's 250 sitemaps; the index handled
    again by another crawler still reads to 200 (the first 150 again, which the duplicate
    filter drops) and records the cut, once."""
    from itertools import islice

    from scrapy.http import Request

    from storage.records import Rejection

    source, (dead, alive) = sitemap_crawlers(redis_url)
    index = sitemap_index("big", 250)
    assert len(list(islice(dead.parse_sitemap(index, source), 150))) == 150  # then it died
    out = list(alive.parse_sitemap(index, source))
    assert [x.url for x in out if isinstance(x, Request)] == [
        f"http://maps.example/big/{i}.xml" for i in range(200)
    ]
    cuts = [(x.reason, x.url) for x in out if isinstance(x, Rejection)]
    assert cuts == [("too_many_sitemaps", "http://maps.example/big/200.xml")]
    # handled a third time, it records the cut again (its record may not have been pushed)
    again = list(alive.parse_sitemap(index, source))
    assert [x.url for x in again if isinstance(x, Rejection)] == ["http://maps.example/big/200.xml"]


def test_the_frontier_spiders_callbacks_take_what_the_spiders_requests_carry():
    """A queued request's cb_kwargs are bound to the frontier spider's callback; one that
    lacked a new argument had every WordPress page refused from the queue (make test)."""
    import inspect

    from crawlers.frontier.queue import CALLBACKS
    from crawlers.spiders.sources import SourceSpider

    for name in CALLBACKS:
        ours = inspect.signature(getattr(FrontierSpider, name)).parameters
        theirs = inspect.signature(getattr(SourceSpider, name)).parameters
        assert list(ours) == list(theirs), name


def test_a_listing_page_1_handled_again_after_the_listing_grew_loses_no_post(redis_url):
    """Page 1 handled by a crawler that died before pushing anything (one page then: two
    posts); handled again once two posts were published, it shows the two new ones, and the
    two it showed first are on page 2. The page count the first handling set holds (one
    page), so page 2 is not asked for: what it holds must be kept as a gap, not lost."""
    import json
    from itertools import islice

    import redis
    from scrapy.http import Request, TextResponse

    from storage.records import EntryState

    client = redis.Redis.from_url(redis_url)
    reset(client)
    source = Source(name="wp", home="http://wp.example/", wordpress=True, max_pages=10)
    spider = FrontierSpider(sources=[source], db_path="", server=client, worker="w", wp_per_page=2)
    spider.budget.setdefault("wp", source.max_pages)
    url = "http://wp.example/wp-json/wp/v2/posts?page=1"

    def page_1(names: list[str], total: int):
        posts = [{"link": f"http://wp.example/{name}", "title": {"rendered": "t"},
                  "content": {"rendered": "<p>x</p>"}, "modified_gmt": when}
                 for name, when in names]  # fmt: skip
        response = TextResponse(url, body=json.dumps(posts).encode(), request=Request(url),
                                headers={"X-WP-Total": str(total),
                                         "X-WP-TotalPages": str(-(-total // 2))})  # fmt: skip
        return spider.parse_wordpress(response, source, 1, "k", "2026-01-01T00:00:00+00:00",
                                      [[None, None]], 0, 5)  # fmt: skip

    old = [("old-1", "2025-12-02T00:00:00"), ("old-2", "2025-12-01T00:00:00")]
    new = [("new-1", "2026-01-01T00:00:02"), ("new-2", "2026-01-01T00:00:01")]
    assert len(list(islice(page_1(old, 2), 1))) == 1  # then its crawler died
    out = list(page_1(new, 4))  # handled again: the old posts are on page 2 now
    asked = [x.url for x in out if isinstance(x, Request)]
    gaps = [x.lastmod for x in out if isinstance(x, EntryState) and x.kind == "wordpress-gaps"]
    # page 2 asked for, or the part below page 1 kept as a gap for the next run
    assert any("page=2" in u for u in asked) or gaps and gaps[0], (asked, gaps)


def test_a_gap_page_failed_then_handled_again_ends_its_listing_once(redis_url):
    """A gap's page 1 fails (errback: the gap kept whole, the chain goes on: state written);
    its crawler dies before letting go, and the page is handled again, now answered (two
    pages). The errback never set the page count, so the count went to -1 and the page
    count page 1 sets now is write-once: every later page of that listing ends it again
    (state written again, the next gap listed again)."""
    import json

    import redis
    from scrapy.http import Request, TextResponse
    from twisted.python.failure import Failure

    from storage.records import EntryState

    client = redis.Redis.from_url(redis_url)
    reset(client)
    source = Source(name="wp", home="http://wp.example/", wordpress=True, max_pages=10)
    spider = FrontierSpider(sources=[source], db_path="", server=client, worker="w", wp_per_page=2)
    spider.budget.setdefault("wp", source.max_pages)
    spider._state = lambda keys: {}
    started, ranges = (
        "2026-01-01T00:00:00+00:00",
        [["2025-12-31T00:00:00+00:00", None], [None, "2025-12-31T00:00:00+00:00"]],
    )
    url = "http://wp.example/wp-json/wp/v2/posts?page=1&modified_before=x"
    request = spider._wp_page(source, 1, "k", started, ranges, 1, 5, dont_filter=True)
    failure = Failure(ConnectionError("reset"))
    failure.request = request
    ended = lambda out: [x for x in out if isinstance(x, EntryState)]  # noqa: E731
    assert ended(list(spider.failed(failure)))  # the gap failed: state written, once

    def page(number):
        posts = [{"link": f"http://wp.example/{number}-{i}", "title": {"rendered": "t"},
                  "content": {"rendered": "<p>x</p>"},
                  "modified_gmt": f"2025-12-0{5 - number}T00:00:0{i}"} for i in range(2)]  # fmt: skip
        response = TextResponse(url.replace("page=1", f"page={number}"),
                                body=json.dumps(posts).encode(), request=Request(url),
                                headers={"X-WP-Total": "4", "X-WP-TotalPages": "2"})  # fmt: skip
        return list(spider.parse_wordpress(response, source, number, "k", started, ranges, 1, 5))

    asked = [x for x in page(1) if isinstance(x, Request)]  # handled again (a redo)
    # page 2 not asked for, or not ending the listing (and the run's chain) once more
    assert not asked or not ended(page(2)), asked
