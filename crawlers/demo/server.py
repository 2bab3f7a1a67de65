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
    "wp": {"source": "demo-wp", "feed": "/feed/", "encoding": "utf-8"},
    "mirror": {"source": "demo-mirror", "feed": "/feed/", "encoding": "windows-1251"},
    "blog": {"source": "demo-blog", "feed": "/atom.xml", "encoding": "utf-8"},
}
LANGS = {"wp": ["ru", "en"], "mirror": ["ru", "uk", "de", "en"], "blog": ["en"]}


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
    site: str, base: str, articles: list[dict]
) -> tuple[dict[str, tuple[str, bytes, dict]], list[dict] | None]:
    """path -> (content type, body bytes, extra headers) for every URL of one site, and the
    posts its WordPress REST API pages through (None when the site has no API)."""
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
        routes["/atom.xml"] = (
            "application/atom+xml",
            render.atom(title="Riverside Weekly", link=base + "/", items=items).encode(),
            {},
        )
    else:
        feed = render.rss(title=site, link=base + "/", items=items, encoding=encoding)
        routes["/feed/"] = (
            f"application/rss+xml; charset={encoding}",
            feed.encode(encoding, "xmlcharrefreplace"),
            {},
        )
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
        time.sleep(float(headers.pop("Delay", 0)))  # a slow page (tests of interrupted crawls)
        self._send(status, ctype, body, headers)

    def _log(self, status: int) -> None:
        if self.log is not None:
            self.log.append((self.path, status))

    def _wp_posts(self, query):
        posts = self.wp_posts
        after = query.get("modified_after", [None])[0]
        if after:
            posts = [p for p in posts if p["modified_gmt"] > after[:19]]
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
    """Context manager: the three demo sites served on 127.0.0.1 at free ports."""

    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.servers: dict[str, ThreadingHTTPServer] = {}
        self.urls: dict[str, str] = {}
        self.articles = load_articles()

    def __enter__(self) -> DemoSites:
        for site in SITES:
            handler = type(f"Handler_{site}", (RoutesHandler,), {"routes": {}})
            server = ThreadingHTTPServer((self.host, 0), handler)
            server.daemon_threads = True
            base = f"http://{self.host}:{server.server_address[1]}"
            handler.routes, handler.wp_posts = build_site(site, base, self.articles)
            self.servers[site] = server
            self.urls[SITES[site]["source"]] = base + "/"
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def sources(self) -> list[Source]:
        return [
            Source(
                name=SITES[site]["source"],
                home=self.urls[SITES[site]["source"]],
                feeds=[self.urls[SITES[site]["source"]].rstrip("/") + SITES[site]["feed"]],
                languages=LANGS[site],
                tags={"network": "demo"},
                crawl_delay=0,
                allowed_domains=["127.0.0.1"],
                allow_private=True,
            )
            for site in SITES
        ]

    def sources_toml(self) -> str:
        out = ["# Sources for the running demo sites (narrascope demo --serve)."]
        for s in self.sources():
            out += [
                "",
                "[[source]]",
                f'name = "{s.name}"',
                f'home = "{s.home}"',
                f"feeds = {json.dumps(s.feeds)}",
                f"languages = {json.dumps(s.languages)}",
                'allowed_domains = ["127.0.0.1"]',
                "allow_private = true",
                "crawl_delay = 0",
            ]
        return "\n".join(out) + "\n"

    def wait(self) -> None:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
