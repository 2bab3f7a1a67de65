"""Serving the demo sites on 127.0.0.1, each on its own free port, from bundled articles."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from crawlers.demo import render
from crawlers.sources import Source

SITES = {
    "wp": {"source": "demo-wp", "encoding": "utf-8"},
    "mirror": {"source": "demo-mirror", "encoding": "windows-1251"},
    "blog": {"source": "demo-blog", "encoding": "utf-8"},
}
LANGS = {"wp": ["ru", "en"], "mirror": ["ru", "uk", "de", "en"], "blog": ["en"]}
# A Telegram-style channel (its web preview is served by the blog's server): a post that
# links to a mirror article, a forward from another channel, announcements.
CHANNEL = "narrascope_demo"
CHANNEL_POSTS = [
    {"id": 101, "views": "2.1K", "date": "2026-10-02T07:00:00+00:00",
     "text": "Доброе утро! Сегодня в эфире: обзор прессы и прогноз погоды на выходные."},
    {"id": 102, "views": "5.4K", "date": "2026-10-03T09:30:00+00:00",
     "forwarded_from": "veche_daily",
     "text": "Осенний фестиваль варенья в Коломне собрал рекордное число гостей: "
             "больше двухсот сортов и конкурс на лучший пирог."},
    {"id": 103, "views": "18K", "date": "2026-10-04T12:00:00+00:00",
     "text": "Перемирие, которого не хочет Брюссель. Новый разбор на нашем сайте.",
     "link_slug": "peremirie-kotorogo-ne-hochet-bryussel"},
    {"id": 104, "views": "950", "date": "2026-10-05T18:45:00+00:00",
     "text": "Our weekly digest is out: the autumn fair, the new bridge and the football cup."},
]  # fmt: skip


def load_articles() -> list[dict]:
    """The demo articles with copies resolved into bodies (see articles.toml)."""
    text = resources.files("crawlers.demo").joinpath("articles.toml").read_text(encoding="utf-8")
    articles = tomllib.loads(text)["article"]
    by_slug = {a["slug"]: a for a in articles}
    for article in articles:
        if "copy_of" in article:
            body = by_slug[article["copy_of"]]["body"]
            for old, new in article.get("edits", []):
                if old not in body:
                    raise ValueError(f"demo edit {old!r} not found in {article['copy_of']}")
                body = body.replace(old, new)
            article["body"] = body
            article.setdefault(
                "chatbot_tail", by_slug[article["copy_of"]].get("chatbot_tail", False)
            )
            article.setdefault("author", by_slug[article["copy_of"]].get("author", "Редакция"))
        article.setdefault("author", "Редакция")
    return articles


def paragraphs(article: dict) -> list[str]:
    paras = [
        p.strip().replace("\n", " ") for p in article["body"].strip().split("\n\n") if p.strip()
    ]
    if article.get("chatbot_tail"):
        paras.append(render.CHATBOT_TAIL)
    return paras


def article_path(article: dict) -> str:
    if article["site"] == "wp":
        return f"/{article['date'][:4]}/{article['date'][5:7]}/{article['slug']}/"
    if article["site"] == "mirror":
        return f"/news/{article['slug']}.html"
    return f"/posts/{article['slug']}"


def build_site(
    site: str, base: str, articles: list[dict], mirror: str = ""
) -> tuple[dict[str, tuple[str, bytes, dict]], list[dict] | None]:
    """path -> (content type, body bytes, extra headers) for every URL of one site, and the
    posts its WordPress REST API pages through (None when the site has no API). ``mirror``
    is the mirror's base URL, which the channel's posts link to."""
    encoding = SITES[site]["encoding"]
    mine = sorted((a for a in articles if a["site"] == site), key=lambda a: a["date"], reverse=True)
    routes: dict[str, tuple[str, bytes, dict]] = {}
    items = []
    links = [(base + article_path(a), a["title"]) for a in mine]
    for i, article in enumerate(mine):
        url = base + article_path(article)
        paras = paragraphs(article)
        others = [link for link in links if link[0] != url][:5]
        if site == "wp":
            html = render.wordpress_page(
                title=article["title"],
                paragraphs=paras,
                date=article["date"],
                author=article["author"],
                post_id=100 + i,
                recent=others,
            )
        elif site == "mirror":
            html = render.mirror_page(
                title=article["title"],
                paragraphs=paras,
                date=article["date"],
                lang=article["lang"],
                related=others,
            )
        else:
            html = render.blog_page(
                title=article["title"],
                paragraphs=paras,
                date=article["date"],
                author=article["author"],
            )
        ctype = f"text/html; charset={encoding}"
        routes[article_path(article)] = (ctype, html.encode(encoding, "xmlcharrefreplace"), {})
        items.append(
            {
                "title": article["title"],
                "url": url,
                "date": article["date"],
                "summary": paras[0][:200],
                "slug": article["slug"],
                "paras": paras,
                "id": 100 + i,
                "author": article["author"],
            }
        )
    index = "".join(f'<li><a href="{u}">{t}</a></li>' for u, t in links)
    routes["/"] = (
        f"text/html; charset={encoding}",
        f"<html><body><h1>{site}</h1><ul>{index}</ul></body></html>".encode(
            encoding, "xmlcharrefreplace"
        ),
        {},
    )
    if site == "blog":  # no feed, no sitemap: only reachable by following links
        routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
    else:
        routes["/robots.txt"] = (
            "text/plain",
            f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap.xml\n".encode(),
            {},
        )
        routes["/sitemap.xml"] = (
            "application/xml",
            render.sitemap([(i["url"], i["date"][:10]) for i in items]).encode(),
            {},
        )
    if site == "blog":
        for path, heading in (("/about", "About Riverside Weekly"), ("/subscribe", "Subscribe")):
            routes[path] = ("text/html; charset=utf-8",
                            f"<html><body><h1>{heading}</h1><p>Short page.</p></body></html>"
                            .encode(), {})  # fmt: skip
        posts = [dict(p) for p in CHANNEL_POSTS]
        for post in posts:
            slug = post.pop("link_slug", None)
            post["links"] = [f"{mirror}/news/{slug}.html"] if slug and mirror else []
        page = lambda chunk, before: render.telegram_preview(  # noqa: E731
            CHANNEL, "Narrascope demo channel", chunk, before).encode()  # fmt: skip
        routes[f"/s/{CHANNEL}"] = ("text/html; charset=utf-8", page(posts[2:], 103), {})
        routes[f"/s/{CHANNEL}?before=103"] = ("text/html; charset=utf-8", page(posts[:2], None), {})
    else:
        feed = render.rss(title=site, link=base + "/", items=items, encoding=encoding)
        routes["/feed/"] = (
            f"application/rss+xml; charset={encoding}",
            feed.encode(encoding, "xmlcharrefreplace"),
            {},
        )
    if site == "mirror":
        news = [
            (i["url"], i["date"], i["title"], a["lang"]) for i, a in zip(items, mine, strict=True)
        ]
        routes["/news-sitemap.xml"] = ("application/xml",
                                       render.news_sitemap(news, "Зеркало").encode(), {})  # fmt: skip
    if site != "wp":
        return routes, None
    routes["/wp-json/"] = ("application/json", b'{"name": "demo", "namespaces": ["wp/v2"]}', {})
    return routes, [render.wp_rest_post(i["id"], i["url"], i, i["paras"]) for i in items]


def _int_arg(query: dict, name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        return default


class RoutesHandler(BaseHTTPRequestHandler):
    """Serves fixed routes (path -> type, body, headers) and, where set, a paged WP REST API."""

    routes: dict = {}
    wp_posts: list[dict] | None = None
    log: list | None = None  # (path, answered status) per request, when a list is given

    def do_GET(self):  # noqa: N802 - http.server API
        parts = urlsplit(self.path)
        if parts.path == "/wp-json/wp/v2/posts" and self.wp_posts is not None:
            return self._wp_posts(parse_qs(parts.query))
        route = self.routes.get(self.path) or self.routes.get(parts.path)
        if route is None:
            self._log(404)
            self.send_error(404)
            return
        ctype, body, headers = route
        # conditional GETs: a strong ETag from the body, 304 when the client already has it
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        headers = {"ETag": etag, **headers}
        if headers["ETag"] and self.headers.get("If-None-Match") == headers["ETag"]:
            self._log(304)
            self.send_response(304)
            self.send_header("ETag", headers["ETag"])
            self.end_headers()
            return
        headers = {k: v for k, v in headers.items() if v is not None}
        status = int(headers.pop("Status", 200))
        fail = headers.pop("Fail", None)  # "503:1": answer 503 to the first request (tests)
        if fail:
            code, times = (int(x) for x in fail.split(":"))
            type(self).failed = failed = getattr(type(self), "failed", None) or {}
            if failed.get(self.path, 0) < times:
                failed[self.path] = failed.get(self.path, 0) + 1
                return self._send(code, "text/plain", b"busy", {"Retry-After": "1"})
        time.sleep(float(headers.pop("Delay", 0)))  # a slow page (tests of interrupted crawls)
        self._send(status, ctype, body, headers)

    def _log(self, status: int) -> None:
        if self.log is not None:
            self.log.append((self.path, status))
        if getattr(self, "stamps", None) is not None:
            self.stamps.append((self.path, status, time.monotonic()))

    def _wp_posts(self, query):
        posts = self.wp_posts
        after = query.get("modified_after", [None])[0]
        if after:
            posts = [p for p in posts if p["modified_gmt"] > after[:19]]
        if before := query.get("modified_before", [None])[0]:
            posts = [p for p in posts if p["modified_gmt"] < before[:19]]
        posts = sorted(posts, key=lambda p: p["modified_gmt"], reverse=True)  # orderby=modified
        if "_embed" not in query:
            posts = [{k: v for k, v in p.items() if k != "_embedded"} for p in posts]
        per_page = max(1, min(100, _int_arg(query, "per_page", 10)))
        page = max(1, _int_arg(query, "page", 1))
        pages = max(1, -(-len(posts) // per_page))
        if page > pages:
            return self._send(
                400, "application/json", b'{"code": "rest_post_invalid_page_number"}', {}
            )
        chunk = posts[(page - 1) * per_page : page * per_page]
        self._send(
            200,
            "application/json; charset=UTF-8",
            json.dumps(chunk, ensure_ascii=False).encode(),
            {"X-WP-Total": str(len(posts)), "X-WP-TotalPages": str(pages)},
        )

    def _send(self, status, ctype, body, headers):
        self._log(status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


class DemoSites:
    """Context manager: the demo sites served on 127.0.0.1 at free ports (three sites and a
    Telegram-style channel preview on the blog's server)."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.urls: dict[str, str] = {}
        self.articles = load_articles()

    def __enter__(self) -> DemoSites:
        bases = {}
        for site in SITES:
            handler = type(f"Handler_{site}", (RoutesHandler,), {"routes": {}})
            server = ThreadingHTTPServer((self.host, 0), handler)
            server.daemon_threads = True
            self.servers[site] = server
            bases[site] = f"http://{self.host}:{server.server_address[1]}"
            self.urls[SITES[site]["source"]] = bases[site] + "/"
        for site, server in self.servers.items():
            handler = server.RequestHandlerClass
            handler.routes, handler.wp_posts = build_site(
                site, bases[site], self.articles, mirror=bases["mirror"]
            )
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.urls["demo-channel"] = f"{bases['blog']}/s/{CHANNEL}"
        return self

    def __exit__(self, *exc) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def sources(self) -> list[Source]:
        """One source per kind of entry point: the WordPress site through its REST API, the
        mirror through its news sitemap, the blog only by following links from its home
        page, and the channel through its Telegram-style preview."""
        common = {"tags": {"network": "demo"}, "crawl_delay": 0,
                  "allowed_domains": ["127.0.0.1"], "allow_private": True}  # fmt: skip
        wp, mirror, blog = (self.urls[SITES[s]["source"]] for s in ("wp", "mirror", "blog"))
        return [
            Source(name="demo-wp", home=wp, wordpress=True, languages=LANGS["wp"], **common),
            Source(
                name="demo-mirror",
                home=mirror,
                sitemaps=[mirror + "news-sitemap.xml"],
                languages=LANGS["mirror"],
                **common,
            ),  # fmt: skip
            Source(
                name="demo-blog",
                home=blog,
                follow_links=True,
                max_depth=1,
                languages=LANGS["blog"],
                **common,
            ),  # fmt: skip
            Source(
                name="demo-channel",
                home=blog,
                telegram=[self.urls["demo-channel"]],
                languages=["ru", "en"],
                **common,
            ),  # fmt: skip
        ]

    def sources_toml(self) -> str:
        """The demo's sources file (what `narrascope demo --serve` writes)."""
        defaults = Source(name="", home="http://x/")
        out = ["# Sources for the running demo sites (narrascope demo --serve)."]
        for s in self.sources():
            out += ["", "[[source]]"]
            for key in Source.__dataclass_fields__:
                value = getattr(s, key)
                if key in ("name", "home") or value != getattr(defaults, key):
                    if isinstance(value, dict):
                        value = (
                            "{ "
                            + ", ".join(f"{k} = {json.dumps(v)}" for k, v in value.items())
                            + " }"
                        )
                        out.append(f"{key} = {value}")
                    else:
                        out.append(f"{key} = {json.dumps(value)}")
        return "\n".join(out) + "\n"

    def wait(self) -> None:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
