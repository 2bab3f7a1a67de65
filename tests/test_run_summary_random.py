"""A seeded randomized check that what an unattended `narrascope run` reports (the summary it
prints, its exit code, its log file's records, `v_runs` and `v_source_health`) is what it did
to the store, over consecutive runs against sites that change between runs: new, changed and
removed pages, a source down for a run, a feed of garbage, pages that are not news, exact and
translated copies on another site, a hostile server, a path robots.txt forbids, and random
--max-duration limits. One seed runs in the suite; NARRASCOPE_RANDOM_SEEDS=N runs N seeds."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawlers.demo import render
from crawlers.demo.server import load_articles, paragraphs
from tests.conftest import run_cli
from tests.support.hostile import HostileServer
from tests.support.run_truth import Snapshot, disagreements, parse_summary, truth

pytestmark = pytest.mark.slow

HTML = "text/html; charset=utf-8"
NOTNEWS = Path(__file__).parent / "fixtures" / "notnews"
SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))
RUNS = int(os.environ.get("NARRASCOPE_RANDOM_RUNS", "3"))
CONFIG = """[crawl]
download_delay = 0
autothrottle = false
retries = 0
timeout = 5
concurrent_per_domain = 4
"""


class World:
    """Three sites and, on some runs, a hostile server; each run ``evolve`` changes them."""

    def __init__(self, rng: random.Random, local_site, tmp_path: Path):
        self.rng, self.tmp = rng, tmp_path
        self.a, self.b, self.c = local_site({}), local_site({}), local_site({})
        self.hostile = HostileServer(rng.choice(["garbage", "reset"]), give_up=5)
        self.pool = [x for x in load_articles() if x["lang"] in ("ru", "en", "de", "uk")]
        rng.shuffle(self.pool)
        self.pages: dict = {"a": {}, "b": {}, "c": {}}  # site -> path -> (title, paragraphs)
        self.gone: dict = {"a": {}, "b": {}, "c": {}}  # path -> status
        self.c_mode = "ok"
        self.slow = False
        self.with_hostile = False
        self.a.routes["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /private/\n", {})
        self.day = datetime.now(UTC) - timedelta(hours=6)
        for site in (self.a, self.b, self.c):
            site.server.RequestHandlerClass.log = []
        self.n = 0
        for _ in range(2):
            self.add("a")
        self.add("b")
        self.add("c")

    def close(self) -> None:
        self.hostile.close()

    def add(self, site: str, article: dict | None = None, path: str | None = None) -> str:
        article = article or self.pool.pop()
        self.n += 1
        path = path or f"/n/{self.n}"
        self.pages[site][path] = (article["title"], paragraphs(article), article["lang"])
        return path

    def evolve(self) -> list[str]:
        """One run's changes, at random; what was done, for the failure message."""
        rng, did = self.rng, []
        for _ in range(rng.randint(0, 2)):
            site = rng.choice("abc")
            did.append(f"new page on {site}: {self.add(site)}")
        live = [(s, p) for s in "abc" for p in self.pages[s] if p not in self.gone[s]]
        articles = [(s, p) for s, p in live if isinstance(self.pages[s][p][1], list)]
        if articles and rng.random() < 0.5:
            s, p = rng.choice(articles)
            title, paras, lang = self.pages[s][p]
            self.pages[s][p] = (title, paras + [paras[0][:200] + " " + str(self.n)], lang)
            self.n += 1
            did.append(f"changed {s}{p}")
        if live and rng.random() < 0.4:
            s, p = rng.choice(live)
            self.gone[s][p] = rng.choice([404, 410])
            did.append(f"removed {s}{p} ({self.gone[s][p]})")
        self.c_mode = rng.choice(["ok", "ok", "500", "garbage"])
        did.append(f"c: {self.c_mode}")
        if rng.random() < 0.3:
            name = rng.choice(sorted(f.name for f in NOTNEWS.glob("*.html")
                                     if not f.name.startswith("article")))  # fmt: skip
            self.n += 1
            self.pages["a"][f"/nn/{self.n}"] = ("notnews", NOTNEWS / name, "ru")
            did.append(f"not news on a: {name}")
        if rng.random() < 0.3:
            s, p = rng.choice([(s, p) for s in "ac" for p in self.pages[s]])
            self.pages["b"][f"/copy/{self.n}"] = self.pages[s][p]
            self.n += 1
            did.append(f"exact copy of {s}{p} on b")
        if rng.random() < 0.3:
            self.pages["a"][f"/private/{self.n}"] = ("Private", ["x " * 300], "en")
            self.n += 1
            did.append("a page robots.txt forbids, listed")
        self.slow = rng.random() < 0.25  # b answers each page after a second
        if self.slow:
            did.append("b slow")
        self.with_hostile = rng.random() < 0.3
        if self.with_hostile:
            did.append(f"hostile source ({self.hostile.mode})")
        return did

    def translated_copy(self) -> str | None:
        """An article on b whose narrative has an article on a in another language."""
        on_a = {self.pages["a"][p][0] for p in self.pages["a"]}
        for article in load_articles():
            if article["title"] in on_a:
                for other in self.pool:
                    if other["narrative"] == article["narrative"] != "filler" and (
                        other["lang"] != article["lang"]
                    ):
                        self.pool.remove(other)
                        return self.add("b", other)
        return None

    def serve(self) -> None:
        """Put the pages in place: a feed on a and c, a sitemap on b."""
        for key, site in (("a", self.a), ("b", self.b), ("c", self.c)):
            items = []
            for i, (path, (title, paras, lang)) in enumerate(self.pages[key].items()):
                url = site.base + path
                date = (self.day + timedelta(minutes=i)).isoformat()
                if isinstance(paras, Path):
                    body = paras.read_bytes()
                elif key == "b":
                    body = render.blog_page(title=title, paragraphs=paras, date=date,
                                            author="Staff").encode()  # fmt: skip
                else:
                    body = render.mirror_page(title=title, paragraphs=paras, date=date,
                                              lang=lang).encode()  # fmt: skip
                gone = self.gone[key].get(path)
                delay = {"Delay": "1"} if key == "b" and self.slow else {}
                site.routes[path] = (HTML, b"gone", {"Status": str(gone)}) if gone else (
                    HTML, body, delay)  # fmt: skip
                items.append({"title": title, "url": url, "date": date, "summary": title})
            if key == "b":
                urls = [(i["url"], i["date"][:10]) for i in items]
                site.routes["/sitemap.xml"] = ("application/xml", render.sitemap(urls).encode(), {})
            else:
                feed = render.rss(title=key, link=site.base + "/", items=items[::-1]).encode()
                site.routes["/feed.xml"] = ("application/rss+xml", feed, {})
        if self.c_mode == "garbage":
            self.c.routes["/feed.xml"] = ("application/rss+xml", self.rng.randbytes(3000), {})
        self.c.server.RequestHandlerClass.fail_all = self.c_mode == "500"

    def served(self) -> list[int]:
        """The statuses the three sites answered since the last call."""
        out = []
        for site in (self.a, self.b, self.c):
            out += [status for _, status in site.server.RequestHandlerClass.log]
            site.server.RequestHandlerClass.log.clear()
        return out

    def sources(self) -> str:
        entries = [("a", self.a.base, "feeds", "/feed.xml"), ("b", self.b.base, "sitemaps",
                   "/sitemap.xml"), ("c", self.c.base, "feeds", "/feed.xml")]  # fmt: skip
        if self.with_hostile:
            entries.append(("h", self.hostile.base, "feeds", "/feed.xml"))
        lines = []
        for name, base, kind, path in entries:
            lines += ["[[source]]", f'name = "{name}"', f'home = "{base}/"',
                      f'{kind} = ["{base}{path}"]', "allow_private = true", ""]  # fmt: skip
        path = self.tmp / "sources.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return str(path)


def _failing_handler(site) -> None:
    """Site c answers every request 500 while ``fail_all`` is set (its server's handler)."""
    handler = site.server.RequestHandlerClass
    handler.fail_all = False
    original = handler.do_GET

    def do_get(self):
        if type(self).fail_all:
            self._log(500)
            self.send_response(500)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"down")
            return
        original(self)

    handler.do_GET = do_get


def _log_records(path: Path, offset: int) -> tuple[list[dict], int]:
    if not path.exists():
        return [], offset
    data = path.read_bytes()
    return [json.loads(line) for line in data[offset:].decode().splitlines() if line], len(data)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_what_each_cron_run_reports_is_what_it_did(tmp_path, local_site, seed):
    rng = random.Random(seed)
    world = World(rng, local_site, tmp_path)
    _failing_handler(world.c)
    config = tmp_path / "narrascope.toml"
    config.write_text(CONFIG)
    db, log = tmp_path / "n.duckdb", tmp_path / "run.jsonl"
    offset, history, wrong = 0, [], []
    try:
        for n in range(RUNS):
            did = world.evolve() if n else ["first run"]
            if n and rng.random() < 0.3 and world.translated_copy():
                did.append("a translated-looking copy on b")
            world.serve()
            limit = ["--max-duration", f"{rng.randint(10, 25)}s"] if rng.random() < 0.3 else []
            before = Snapshot.take(db)
            proc = run_cli("--config", str(config), "--log-file", str(log), "--log-format",
                           "json", "run", "--sources", world.sources(), *limit, db=db,
                           check=False)  # fmt: skip
            records, offset = _log_records(log, offset)
            printed = parse_summary(proc.stdout)
            real = truth(db, before, Snapshot.take(db))
            real["served"] = world.served()
            history.append(f"run {n} {limit}: {'; '.join(did)}\n{proc.stdout}{proc.stderr}")
            statuses = {k: status for k, (_, status, _) in real["runs"].items()}
            print(f"seed {seed} run {n} {limit} exit {proc.returncode} {statuses}: "
                  f"{'; '.join(did)}")  # fmt: skip
            wrong += [f"run {n}: {w}" for w in disagreements(printed, proc.returncode, real,
                                                              records)]  # fmt: skip
    finally:
        world.close()
    assert not wrong, f"seed {seed}:\n" + "\n".join(wrong + history)
