"""`narrascope sources add URL`: probe a site (through scrapy) and propose a sources entry:
its feeds (<link rel=alternate>, /feed/), sitemaps (robots.txt, /sitemap.xml), whether its
WordPress REST API answers, and the language its pages declare."""

from __future__ import annotations

import json
import re
from urllib.parse import urljoin, urlsplit

import scrapy

from crawlers.sources import is_web_url

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/feed+json")  # fmt: skip


class ProbeSpider(scrapy.Spider):
    name = "probe"

    def __init__(self, home: str, allow_private: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.home = home if home.endswith("/") else home + "/"
        self.allow_private = allow_private
        self.found: dict = {"feeds": [], "sitemaps": [], "wordpress": False, "languages": [],
                            "errors": []}  # fmt: skip

    @property
    def private_hosts(self) -> set[str]:
        host = urlsplit(self.home).hostname
        return {host} if self.allow_private and host else set()

    def _get(self, path: str, callback) -> scrapy.Request:
        return scrapy.Request(
            urljoin(self.home, path),
            callback=callback,
            errback=self.failed,
            meta={"handle_httpstatus_all": True},
            dont_filter=True,
        )

    async def start(self):
        yield self._get("", self.parse_home)
        yield self._get("feed/", self.parse_feed)
        yield self._get("/robots.txt", self.parse_robots)
        yield self._get("/wp-json/", self.parse_wp)

    def parse_home(self, response):
        if response.status != 200 or not isinstance(response, scrapy.http.TextResponse):
            self.found["errors"].append(f"home page: HTTP {response.status}")
            return
        for link in response.css('link[rel~="alternate"]'):
            if (link.attrib.get("type") or "").lower() in FEED_TYPES and link.attrib.get("href"):
                self._add("feeds", response.urljoin(link.attrib["href"]))
        # visible text of the home page (headlines, mostly): for guessing the language
        text = " ".join(t.strip() for t in response.css("body :not(script):not(style)::text")
                        .getall() if t.strip())  # fmt: skip
        self.found["sample"] = text[:5000]
        lang = (response.css("html::attr(lang)").get() or "").split("-")[0].lower()
        if re.fullmatch(r"[a-z]{2,3}", lang):
            self._add("languages", lang)
        generator = response.css('meta[name="generator"]::attr(content)').get() or ""
        if "wordpress" in generator.lower():
            self.found["wordpress_generator"] = True

    def parse_feed(self, response):
        import feedparser

        if response.status == 200 and feedparser.parse(response.body).entries:
            self._add("feeds", response.url)

    def parse_robots(self, response):
        if response.status != 200:
            return
        for line in response.text.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() == "sitemap" and value.strip():
                self._add("sitemaps", value.strip())
        if not self.found["sitemaps"]:
            yield self._get("/sitemap.xml", self.parse_sitemap)

    def parse_sitemap(self, response):
        if response.status == 200 and b"<loc>" in response.body[:100_000]:
            self._add("sitemaps", response.url)

    def parse_wp(self, response):
        if response.status != 200:
            return
        try:
            data = json.loads(response.body)
        except ValueError:
            return
        if isinstance(data, dict) and "wp/v2" in (data.get("namespaces") or []):
            self.found["wordpress"] = True

    def _add(self, key: str, value: str) -> None:
        if value not in self.found[key]:
            self.found[key].append(value)

    def failed(self, failure):
        """A request that got no answer (refused, timed out, no such host): an error line,
        and where it is the home page, the site is ``unreachable``."""
        self.found["errors"].append(f"{failure.request.url}: {failure.value}")
        if failure.request.url == self.home:
            self.found["unreachable"] = str(failure.value)


def probe(home: str, settings: dict, allow_private: bool = False) -> dict:
    """What the site offers (see ProbeSpider.found). One scrapy crawl: once per process."""
    import logging

    from scrapy.crawler import CrawlerProcess

    from crawlers.runner import quiet_scrapy

    quiet_scrapy(settings.get("LOG_LEVEL", "WARNING"))
    host = (urlsplit(home).hostname or "").lower()
    if allow_private and host:  # the resolver's allowance (crawlers/safety.py)
        settings = {**settings, "NARRASCOPE_PRIVATE_HOSTS": [host]}
    process = CrawlerProcess(settings)
    logging.getLogger("scrapy").setLevel(settings.get("LOG_LEVEL", "WARNING"))
    crawler = process.create_crawler(ProbeSpider)
    process.crawl(crawler, home=home, allow_private=allow_private)
    process.start()
    return crawler.spider.found


def toml_value(value) -> str:
    """``value`` (a string or a list of them) as TOML. JSON's escapes are not all TOML's: it
    writes a character beyond the BMP as a surrogate pair (\\ud83d\\ude00), which TOML
    refuses, and leaves DEL unescaped, which TOML forbids; a site's URLs may hold either."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def proposal(home: str, found: dict, name: str | None = None,
             allow_private: bool = False) -> str:  # fmt: skip
    """A [[source]] entry for the sources file, from what the probe found."""
    host = urlsplit(home).hostname or "site"
    lines = ["[[source]]", f"name = {toml_value(name or host)}", f"home = {toml_value(home)}"]
    # http(s) only: a robots.txt or a page may name file: or ftp: ones
    feeds = [u for u in found["feeds"] if is_web_url(u)]
    sitemaps = [u for u in found["sitemaps"] if is_web_url(u)]
    if feeds:
        lines.append(f"feeds = {toml_value(feeds)}")
    if sitemaps:
        lines.append(f"sitemaps = {toml_value(sitemaps)}")
    if found["wordpress"]:
        lines.append("wordpress = true  # /wp-json/ answers: the whole archive, clean bodies")
    if not (feeds or sitemaps or found["wordpress"]):
        lines.append("follow_links = true  # no feed, sitemap or API found")
    if found["languages"]:
        lines.append(f"languages = {toml_value(found['languages'])}")
    lines.append(f"allowed_domains = {toml_value([host])}")
    if allow_private:
        lines.append("allow_private = true")
    lines.append('tags = { country = "", outlet_type = "", network = "" }')
    return "\n".join(lines) + "\n"
