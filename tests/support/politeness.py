"""Random local sites for the politeness driver (tests/crawlers/test_politeness_random.py): a
random robots.txt in odd but legal spellings, served in one of several ways (404, 500, a
redirect, slowly, padded past 500 KiB), pages that answer 429/503 with Retry-After once, and
a server log of every request with its host and when it started and ended. Beside them an
RFC 9309 reading of a robots.txt written here (not protego's): the reference."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from crawlers.demo import render

PRODUCT = "narrascope"  # the product token of narrascope's User-Agent
# "crawler" and "research": other crawlers' groups, named by words of our User-Agent string
AGENTS = ("*", "narrascope", "NarraScope", "NARRASCOPE", "googlebot", "crawler", "research")
DIRS = ("/news/", "/News/", "/private/", "/a/b/", "/blog/", "/")
NAMES = ("x{n}.html", "x{n}.php", "x{n}", "x{n}/", "x{n}.php?id={n}", "x{n}?ref=rss")
PATTERNS = (
    "/private/", "/private", "/news/", "/News/", "/*.php", "/*.php$", "/*?", "/*?id=", "/a/",
    "/a/*/x", "/blog/*.html$", "/x", "/", "/*", "*.html", "/news/x1", "/$", "/blog/", "/a/b/x2",
)  # fmt: skip
ROBOTS_MODES = ("ok",) * 6 + ("404", "500", "redirect", "slow", "huge", "503-once")
PARA = "Officials said again on Tuesday that the talks had stalled over the terms of a truce. "


def article(title: str) -> bytes:
    return render.mirror_page(title=title, paragraphs=[PARA * 4] * 3, date="2026-10-01",
                              lang="en").encode()  # fmt: skip


# -- robots.txt: written at random, read by RFC 9309 ----------------------------------------


def random_robots(rng, sitemap: str) -> str:
    """A robots.txt of random groups in random spellings:
    directive case, spaces around the colon, comments, blank lines, Sitemap and Crawl-delay
    lines, empty Disallow."""
    groups = []
    for _ in range(rng.randint(1, 3)):
        agents = rng.sample(AGENTS, rng.randint(1, 2))
        rules = [(rng.random() < 0.4, rng.choice(PATTERNS)) for _ in range(rng.randint(0, 4))]
        groups.append((agents, rules))
    spell = lambda word: rng.choice([word, word.lower(), word.upper()])  # noqa: E731
    colon = lambda: rng.choice([": ", ":", " : ", ":\t"])  # noqa: E731
    lines = ["# robots.txt for a test site"] if rng.random() < 0.5 else []
    for agents, rules in groups:
        if rng.random() < 0.5:
            lines.append("")
        lines += [f"{spell('User-agent')}{colon()}{a}" for a in agents]
        if rules and rng.random() < 0.3:  # not before another user-agent line: protego
            # then starts a new group, Google's parser (which ignores it) does not
            lines.append(f"{spell('Crawl-delay')}{colon()}{rng.choice(['1', '0.5', '3'])}")
        for allow, pattern in rules:
            comment = "  # why not" if rng.random() < 0.2 else ""
            lines.append(f"{spell('Allow' if allow else 'Disallow')}{colon()}{pattern}{comment}")
        if rng.random() < 0.2:
            lines.append(f"{spell('Disallow')}:")  # empty: no rule
    if rng.random() < 0.5:
        lines.insert(rng.randint(0, len(lines)), f"Sitemap: {sitemap}")
    newline = rng.choice(["\n", "\r\n"])
    text = newline.join(lines) + newline
    if rng.random() < 0.3:
        text = "\ufeff" + text
    return text


def _regex(pattern: str) -> re.Pattern:
    end = pattern.endswith("$")
    body = "".join(".*" if c == "*" else re.escape(c) for c in pattern.rstrip("$"))
    return re.compile(body + ("$" if end else ""))


def reference_groups(text: str) -> list[tuple[list[str], list[tuple[bool, str]], float | None]]:
    """The groups of a robots.txt as RFC 9309 reads them: user-agent lines in a row (blank
    lines and lines of other records between them aside) start one group, its allow and
    disallow rules follow; a rule with no path is none, but still a rule line. Each group's
    last Crawl-delay (None: none), a line that ends its user-agent lines as a rule does."""
    groups: list = []
    in_rules = True
    for raw in re.split(r"\r\n|\r|\n", text.removeprefix("\ufeff")):
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (part.strip() for part in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if in_rules:
                groups.append(([], [], None))
                in_rules = False
            groups[-1][0].append(value)
        elif key in ("allow", "disallow", "crawl-delay") and groups:
            in_rules = True
            if key == "crawl-delay":
                groups[-1] = (*groups[-1][:2], float(value))
            elif value:
                groups[-1][1].append((key == "allow", value))
    return groups


def reference_allows(text: str, path: str) -> bool:
    """RFC 9309: the groups naming the product token (any case), merged, else those of "*";
    the longest matching pattern decides, Allow on a tie; /robots.txt is always allowed."""
    if path == "/robots.txt":
        return True
    groups = reference_groups(text)
    mine = [r for agents, rules, _ in groups if PRODUCT in (a.lower() for a in agents)
            for r in rules]  # fmt: skip
    if not any(PRODUCT in (a.lower() for a in agents) for agents, _, _ in groups):
        mine = [r for agents, rules, _ in groups if "*" in agents for r in rules]
    best = None
    for allow, pattern in mine:
        # protego's one departure, kept here: it weighs a pattern percent-encoded, so that
        # "?" counts 3 octets ("/*?id=" outweighs "/blog/"; RFC 9309 counts it as one)
        weight = (len(pattern) + 2 * pattern.count("?"), allow)
        if _regex(pattern).match(path) and (best is None or weight > best[0]):
            best = (weight, pattern)
    return best is None or best[0][1]


def reference_crawl_delay(text: str) -> float:
    """The Crawl-delay that applies to us (0 where none): that of the groups naming the
    product token (any case), else of those of "*"; where several lines apply, the last (no
    RFC defines Crawl-delay: this is how Bing, Yandex and protego read it)."""
    delays: dict[str, float] = {}  # agent (lower case) -> its last Crawl-delay
    for agents, _, delay in reference_groups(text):
        if delay is not None:
            delays.update((a.lower(), delay) for a in agents)
    return delays.get(PRODUCT, delays.get("*", 0.0))


# -- the site ---------------------------------------------------------------------------


@dataclass
class Hit:
    host: str
    path: str
    status: int
    start: float
    end: float
    retry_after: float = 0.0


@dataclass
class Site:
    """One local site: ``routes`` path -> (status, type, body, headers, delay seconds);
    ``faults`` path -> [(status, Retry-After)] answered first, one per request (after the
    route's delay)."""

    host: str
    routes: dict = field(default_factory=dict)
    faults: dict = field(default_factory=dict)
    log: list = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def start(self) -> Site:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                start = time.monotonic()
                fault = site.faults.get(self.path)
                if fault:  # answered after the page's own delay
                    status, wait = fault.pop(0)
                    delay = site.routes.get(self.path, (0,) * 5)[4]
                    route = (status, "text/plain", b"busy", {"Retry-After": str(wait)}, delay)
                else:
                    wait = 0
                    route = site.routes.get(self.path, (404, "text/plain", b"not found", {}, 0))
                status, ctype, body, headers, delay = route
                time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                site.log.append(Hit(site.host, self.path, status, start, time.monotonic(), wait))

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.server.request_queue_size = 64
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_robots(site: Site, rng, mode: str, text: str) -> None:
    """Put robots.txt on ``site`` the ``mode`` way."""
    ok = (200, "text/plain", text.encode(), {}, 0)
    if mode == "404":
        site.routes["/robots.txt"] = (404, "text/html", b"<h1>Not found</h1>", {}, 0)
    elif mode == "500":
        site.routes["/robots.txt"] = (500, "text/html", b"<h1>Internal error</h1>", {}, 0)
    elif mode == "redirect":
        site.routes["/robots.txt"] = (301, "text/html", b"", {"Location": "/robots-moved.txt"}, 0)
        site.routes["/robots-moved.txt"] = ok
    elif mode == "slow":
        site.routes["/robots.txt"] = (*ok[:4], 1.0)
    elif mode == "huge":  # past 500 KiB, which RFC 9309 asks crawlers to read at least
        padding = "".join(f"# {i:07d} padding\n" for i in range(40_000))
        site.routes["/robots.txt"] = (200, "text/plain", (text + padding).encode(), {}, 0)
    else:
        site.routes["/robots.txt"] = ok
        if mode == "503-once":
            site.faults["/robots.txt"] = [(503, 1)]


def effective_robots(mode: str, text: str) -> str:
    """The rules that hold for a robots.txt served the ``mode`` way (RFC 9309 2.3.1): a 404 is
    "unavailable", no rules; a 500 after the retries "unreachable", everything disallowed."""
    return {"404": "", "500": "User-agent: *\nDisallow: /\n"}.get(mode, text)
