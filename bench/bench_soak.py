"""Soak: consecutive `narrascope run`s against local sites that change between runs.

Three sites on 127.0.0.1-3 serve the demo articles (crawlers/demo) and remixes of them: a
WordPress-style site read through its RSS feed (a "recent posts" sidebar on every page), a
windows-1251 republisher read through its sitemap (with lastmod) and an English blog reached by
following links. Before each run after the first (seeded: every soak has the same history) two
pages are published, two edited (a sentence appended; lastmod moves) and one deleted (gone from
the listing, 404); the republisher refuses connections for two runs and the blog answers 503
for two more. Each run is the real CLI in a subprocess (a tiny ru->en Argos model installed,
e5-small embeddings); its peak RSS is its own high-water mark (VmHWM). At the end the final sites are crawled
once into a fresh database and the two canonical states (tests/support/canonical.py) are
compared over the URLs still published: deleted pages stay in the soaked one as history.

Run: python -m bench.bench_soak [RUNS] [--out results.json] [--keep DIR]   (default 20 runs)
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path

from crawlers.demo import render
from crawlers.demo.server import RoutesHandler, load_articles, paragraphs
from tests.support.rss import high_water_kib

ROOT = Path(__file__).resolve().parents[1]
SEED = 14
UPDATED = {
    "ru": "Обновлено: редакция уточнила детали (правка {n}).",
    "uk": "Оновлено: редакція уточнила деталі (правка {n}).",
    "de": "Aktualisiert: Die Redaktion hat Details ergänzt (Fassung {n}).",
    "en": "Updated: the editors clarified the details (revision {n}).",
}
FOLLOW_UP = {"ru": "продолжение", "uk": "продовження", "de": "Fortsetzung", "en": "follow-up"}
KINDS = {"wp": "feed", "mirror": "sitemap", "blog": "links"}
# one loopback address per site: scrapy keys download slots (and backoff) by host, and
# three sites on one address would share one, as no three real sites do
HOSTS = {"feed": "127.0.0.1", "sitemap": "127.0.0.2", "links": "127.0.0.3"}


class SoakHandler(RoutesHandler):
    unavailable = False  # answer 503 to everything (a source "down" but still listening)

    def do_GET(self):  # noqa: N802 - http.server API
        if type(self).unavailable:
            return self._send(503, "text/plain", b"maintenance", {"Retry-After": "1"})
        return super().do_GET()


class Site:
    """One fixture site: its live pages (path -> page dict), rendered into routes on publish."""

    def __init__(self, kind: str):
        self.kind, self.pages, self.port, self.server = kind, {}, 0, None
        self.host = HOSTS[kind]
        self.encoding = "windows-1251" if kind == "sitemap" else "utf-8"
        self.handler = type(f"Soak_{kind}", (SoakHandler,), {"routes": {}})

    def start(self) -> None:
        self.server = ThreadingHTTPServer((self.host, self.port), self.handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]  # the same port again after an outage
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:  # connection refused until start()
        self.server.shutdown()
        self.server.server_close()
        self.server = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def path(self, page: dict) -> str:
        if self.kind == "feed":
            return f"/{page['date'][:4]}/{page['date'][5:7]}/{page['slug']}/"
        return f"/news/{page['slug']}.html" if self.kind == "sitemap" else f"/posts/{page['slug']}"

    def add(self, page: dict) -> None:
        newest = sorted(self.pages.items(), key=lambda kv: kv[1]["date"], reverse=True)
        page["related"] = [(self.base + p, q["title"]) for p, q in newest[:3]]  # fixed at birth
        self.pages[self.path(page)] = page

    def html(self, path: str, page: dict, newest: list) -> str:
        common = {"title": page["title"], "paragraphs": page["paras"], "date": page["date"]}
        if self.kind == "feed":  # WordPress's sidebar: the five newest other posts
            recent = [(self.base + p, q["title"]) for p, q in newest if p != path][:5]
            return render.wordpress_page(
                **common, author=page["author"], post_id=page["id"], recent=recent
            )
        if self.kind == "sitemap":
            return render.mirror_page(**common, lang=page["lang"], related=page["related"])
        return render.blog_page(**common, author=page["author"])

    def publish(self) -> None:
        newest = sorted(self.pages.items(), key=lambda kv: kv[1]["date"], reverse=True)
        html = f"text/html; charset={self.encoding}"
        routes = {
            p: (html, self.html(p, q, newest).encode(self.encoding, "xmlcharrefreplace"), {})
            for p, q in newest
        }
        index = "".join(f'<li><a href="{p}">{q["title"]}</a></li>' for p, q in newest)
        page = f"<html><body><ul>{index}</ul></body></html>"
        routes["/"] = (html, page.encode(self.encoding, "xmlcharrefreplace"), {})
        routes["/robots.txt"] = ("text/plain", b"User-agent: *\nAllow: /\n", {})
        items = [{"title": q["title"], "url": self.base + p, "date": q["date"],
                  "summary": q["paras"][0][:200]} for p, q in newest]  # fmt: skip
        feed = render.rss(title="soak", link=self.base + "/", items=items).encode()
        routes["/feed/"] = ("application/rss+xml; charset=utf-8", feed, {})
        listed = [(self.base + p, q["lastmod"]) for p, q in newest]
        routes["/sitemap.xml"] = ("application/xml", render.sitemap(listed).encode(), {})
        self.handler.routes = routes

    def source_toml(self) -> str:
        entry = {
            "feed": f'feeds = ["{self.base}/feed/"]',
            "sitemap": f'sitemaps = ["{self.base}/sitemap.xml"]',
            "links": "follow_links = true\nmax_depth = 1",
        }[self.kind]
        return (
            f'[[source]]\nname = "soak-{self.kind}"\nhome = "{self.base}/"\n{entry}\n'
            f'allowed_domains = ["{self.host}"]\nallow_private = true\ncrawl_delay = 0\n\n'
        )


class Soak:
    """The sites and their seeded history of publications, edits, deletions and outages."""

    def __init__(self, runs: int, seed: int = SEED):
        self.rng = random.Random(seed)
        self.sites = {kind: Site(kind) for kind in KINDS.values()}
        for site in self.sites.values():
            site.start()
        pool = [dict(a, paras=paragraphs(a), lastmod=a["date"]) for a in load_articles()]
        self.rng.shuffle(pool)
        self.held, self.pool, self.ids, self.deleted = pool[:12], pool, 100, []
        for article in pool[12:]:
            self._place(article)
        self.refused = self._span(runs, 0.3)  # the republisher's listener is closed
        self.unavailable = self._span(runs, 0.65)  # the blog answers 503
        for site in self.sites.values():
            site.publish()

    @staticmethod
    def _span(runs: int, at: float) -> set[int]:
        first = math.ceil(runs * at)
        return {r for r in (first, first + 1) if 2 <= r < runs}

    def _place(self, article: dict) -> None:
        self.ids += 1
        self.sites[KINDS[article["site"]]].add(dict(article, id=self.ids))

    def _new_article(self, run: int, k: int) -> dict:
        if self.held:
            article = self.held.pop()
        else:  # paragraphs of two articles in one language under a new title
            a = self.rng.choice(self.pool)
            b = self.rng.choice([x for x in self.pool if x["lang"] == a["lang"]])
            title = f"{a['title']}: {FOLLOW_UP[a['lang']]} {run}.{k}"
            paras = a["paras"][:2] + b["paras"][-2:]
            article = dict(a, slug=f"{a['slug']}-{run}-{k}", paras=paras, title=title)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        return dict(article, date=f"2026-11-{run:02d}T08:0{k}:00+00:00", lastmod=stamp)

    def mutate(self, run: int) -> str:
        """The changes before ``run``; a one-line note of them."""
        live = [(s, p) for s in self.sites.values() for p in sorted(s.pages)]
        edited = self.rng.sample(live, 2)
        site, path = self.rng.choice([x for x in live if x not in edited])
        self.deleted.append(site.base + path)
        del site.pages[path]
        for site, path in edited:
            page = site.pages[path]
            update = UPDATED[page["lang"]].format(n=run)
            page["paras"] = [*page["paras"][:-1], f"{page['paras'][-1]} {update}"]
            page["lastmod"] = datetime.now(UTC).isoformat(timespec="seconds")
        for k in range(2):
            self._place(self._new_article(run, k))
        self.set_outages(run)
        return "+2 ~2 -1" + self.outage_note(run)

    def outage_note(self, run: int) -> str:
        return (", sitemap site refused" if run in self.refused else "") + (
            ", links site 503" if run in self.unavailable else ""
        )

    def set_outages(self, run: int | None) -> None:
        """Outages as scheduled for ``run`` (None: everything up), routes republished."""
        down = self.sites["sitemap"]
        if run in self.refused and down.server is not None:
            down.stop()
        elif run not in self.refused and down.server is None:
            down.start()
        self.sites["links"].handler.unavailable = run in self.unavailable
        for site in self.sites.values():
            site.publish()

    def live_urls(self) -> set[str]:
        return {s.base + p for s in self.sites.values() for p in s.pages}


def run_cli(workdir: Path, db: Path, env: dict) -> dict:
    """One `narrascope run`: wall seconds, peak RSS (its own VmHWM, polled) and exit status."""
    config, sources = str(workdir / "narrascope.toml"), str(workdir / "sources.toml")
    cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(db), "--config", config, "run"]
    with open(db.with_suffix(".log"), "a") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [*cmd, "--sources", sources], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
        )
        peak = 0
        while proc.poll() is None:  # not wait4: its ru_maxrss starts from this parent's RSS
            peak = max(peak, high_water_kib(proc.pid))
            time.sleep(0.05)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_mb": peak / 1024, "rc": proc.returncode}


STAGES = "extract langid signals translate embed dedup cluster".split()
COUNTS = ("documents versions narratives html_mb same_text_versions new changed unchanged "
          "not_modified rejected crawl_s process_s " + " ".join(STAGES))  # fmt: skip
# versions whose extracted text equals the previous version's: a change outside the article
COUNTS_SQL = f"""SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM document_versions),
    (SELECT count(DISTINCT narrative_id) FROM narrative_members),
    (SELECT coalesce(sum(octet_length(html_zlib)), 0) / 1048576 FROM document_versions),
    (SELECT count(*) FROM extractions x JOIN extractions p
        ON p.doc_id = x.doc_id AND p.version = x.version - 1 WHERE x.text = p.text),
    c.new, c.changed, c.unchanged, c.not_modified, c.rejected, c.seconds,
    p.seconds, {", ".join(f"p.{s}_seconds" for s in STAGES)}
FROM (SELECT * FROM v_runs WHERE kind = 'crawl' ORDER BY started_at DESC LIMIT 1) c,
    (SELECT * FROM v_runs WHERE kind = 'process' ORDER BY started_at DESC LIMIT 1) p"""


def measure(db: Path) -> dict:
    """Database (+ WAL) and WARC sizes, counts, and the latest crawl's and process's summary."""
    from storage import connect

    size = lambda p: p.stat().st_size if p.exists() else 0  # noqa: E731
    warc = sum(size(p) for p in (db.parent / "warc").rglob("*"))
    with connect(db, read_only=True) as con:
        counts = dict(zip(COUNTS.split(), con.execute(COUNTS_SQL).fetchone(), strict=True))
    return {"db_mb": (size(db) + size(Path(f"{db}.wal"))) / 2**20, "warc_mb": warc / 2**20,
            "load_avg": os.getloadavg()[0], **counts}  # fmt: skip


def compare(soaked: Path, fresh: Path, live: set[str], deleted: list[str]) -> dict:
    """The soaked state against one fresh crawl, over the URLs the final sites publish."""
    from storage.urls import canonical_url
    from tests.support.canonical import canonical_state

    s, f = canonical_state(soaked), canonical_state(fresh)
    final = {canonical_url(u) for u in live}
    fields = "title text lang translation machine_written copy_kind vectors stages rejections"
    differ: dict[str, list[str]] = {}
    for url in sorted(final & set(f["documents"]) & set(s["documents"])):
        a, b = s["documents"][url], f["documents"][url]
        for name in ("body", *fields.split(), "retrying"):
            if (a["versions"][-1:] != b["versions"][-1:]) if name == "body" else a[name] != b[name]:
                differ.setdefault(name, []).append(url.split("/", 3)[-1])
                if name in ("copy_kind", "lang", "translation", "machine_written"):
                    differ[name][-1] += f" soaked={a[name]} fresh={b[name]}"

    def within(groups: list[list[str]]) -> set[tuple]:  # groups over final URLs, 2+ members
        return {t for g in groups if len(t := tuple(u for u in g if u in final)) > 1}

    def mates(groups: set[tuple]) -> dict:
        return {u: g for g in groups for u in g}

    out = {"final_urls": len(final), "fresh_documents": len(f["documents"]),
           "missing_in_fresh": sorted(final - set(f["documents"])),
           "missing_in_soaked": sorted(final - set(s["documents"])),
           "differing_fields": {k: len(v) for k, v in differ.items()},
           "examples": {k: v[:8] for k, v in differ.items()}, "deleted_pages": len(deleted),
           "deleted_kept_in_soaked": len({canonical_url(u) for u in deleted} & set(s["documents"]))}  # fmt: skip
    for name in ("narratives", "copy_groups"):
        a, b = within(s[name]), within(f[name])
        ma, mb = mates(a), mates(b)
        short = lambda groups: sorted([u.split("/", 3)[-1] for u in g] for g in groups)  # noqa: E731
        out[name] = {"soaked": len(a), "fresh": len(b), "identical": len(a & b),
                     "documents_grouped_differently": sum(ma.get(u) != mb.get(u) for u in final),
                     "only_soaked": short(a - b), "only_fresh": short(b - a)}  # fmt: skip
    return out


def environment(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        env[var] = str(workdir / var.lower())
    env.update(NARRASCOPE_CONFIG="", HF_HUB_OFFLINE="1", TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="",
               ARGOS_PACKAGES_DIR=str(workdir / "argos"), PYTHONPATH=str(ROOT))  # fmt: skip
    return env


def install_tiny_translation(work: Path, env: dict) -> None:
    """A tiny random-weight ru->en Argos package (tests/support/tiny_argos.py): the translate
    stage loads and runs a real model each run; its output is garbage, its cost is not nil."""
    from tests.support.tiny_argos import build_package

    package = build_package(work / "packages", "ru", "en")
    cmd = [sys.executable, "-m", "pipeline.cli", "models", "install-file", str(package)]
    subprocess.run(cmd, env=env, cwd=work, check=True, capture_output=True)


def main(runs: int, out: str | None, keep: str | None) -> None:
    """``keep``: work in this new directory and leave it (databases, logs) behind."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="narrascope-soak-") as tmp:
        work = Path(keep or tmp)
        (work / "soaked").mkdir(parents=True)
        (work / "fresh").mkdir()
        env, soak = environment(work), Soak(runs)
        install_tiny_translation(work, env)
        (work / "narrascope.toml").write_text(
            "[crawl]\ndownload_delay = 0\nautothrottle = false\nconcurrent_per_domain = 8\n"
        )
        (work / "sources.toml").write_text("".join(s.source_toml() for s in soak.sites.values()))
        db, rows = work / "soaked" / "soak.duckdb", []
        for run in range(1, runs + 1):
            note = soak.mutate(run) if run > 1 else f"{len(soak.live_urls())} pages"
            rows.append({"run": run, "changes": note, **run_cli(work, db, env), **measure(db)})
            print(f"run {run}/{runs}: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
        soak.set_outages(None)  # the final sites, everything up
        fresh = work / "fresh" / "fresh.duckdb"
        fresh_run = {**run_cli(work, fresh, env), **measure(fresh)}
        result = compare(db, fresh, soak.live_urls(), soak.deleted)
        # incremental narratives differ from a one-shot grouping by design; `cluster
        # --rebuild` on a copy of the soaked database is the one-shot grouping over its
        # documents (the deleted pages, kept as history, included)
        rebuilt = work / "soaked" / "rebuilt.duckdb"
        shutil.copyfile(db, rebuilt)
        cmd = [sys.executable, "-m", "pipeline.cli", "--db", str(rebuilt), "cluster", "--rebuild"]
        subprocess.run(cmd, env=env, cwd=work, check=True, capture_output=True)
        result["narratives_after_cluster_rebuild"] = compare(
            rebuilt, fresh, soak.live_urls(), soak.deleted
        )["narratives"]
    report(rows, fresh_run, result, time.perf_counter() - started)
    if out:
        Path(out).write_text(
            json.dumps({"runs": rows, "fresh": fresh_run, "compare": result}, indent=1, default=str)
        )


def report(rows: list[dict], fresh: dict, result: dict, elapsed: float) -> None:
    cols = ("run changes seconds crawl_s process_s rss_mb db_mb warc_mb documents versions "
            "narratives new changed unchanged not_modified rc").split()  # fmt: skip
    fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else str(v)  # noqa: E731
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in [*rows, {**fresh, "run": "fresh", "changes": "final sites, once"}]:
        print("| " + " | ".join(fmt(row.get(c)) for c in cols) + " |")
    quiet = [r for r in rows[1:] if "," not in r["changes"]] or rows  # no outage, not the first
    head, tail = quiet[:5], quiet[-5:]
    med = lambda part, key: statistics.median(r[key] or 0 for r in part)  # noqa: E731
    slope = lambda key: statistics.linear_regression(  # noqa: E731
        [r["run"] for r in quiet], [r[key] for r in quiet]).slope if len(quiet) > 1 else 0.0  # fmt: skip
    print(f"\nRuns without an outage after the first, median of the first five "
          f"({', '.join(str(r['run']) for r in head)}) against the last five "
          f"({', '.join(str(r['run']) for r in tail)}): {med(head, 'seconds'):.1f} s against "
          f"{med(tail, 'seconds'):.1f} s, peak RSS {med(head, 'rss_mb'):.0f} against "
          f"{med(tail, 'rss_mb'):.0f} MiB; least-squares trend {slope('seconds'):+.2f} s and "
          f"{slope('rss_mb'):+.1f} MiB per run.")  # fmt: skip
    print("Process seconds per stage, the same medians: " + ", ".join(
        f"{s} {med(head, s):.1f}/{med(tail, s):.1f}" for s in STAGES))  # fmt: skip
    first, last = rows[0], rows[-1]
    grown = last["versions"] - first["versions"]
    print(f"After run 1 the database (+ WAL) grew {last['db_mb'] - first['db_mb']:.1f} MiB for "
          f"{grown} new versions ({last['html_mb'] - first['html_mb']:.2f} MiB of compressed HTML "
          f"stored); "
          f"{last['same_text_versions']} of all {last['versions']} versions differ from the one "
          f"before only outside the article text. One fresh crawl of the final sites: "
          f"{fresh['db_mb']:.1f} MiB for {fresh['versions']} versions "
          f"({fresh['html_mb']:.2f} MiB of compressed HTML); soaked: {last['db_mb']:.1f} MiB.")  # fmt: skip
    print(f"\nFinal state against one fresh crawl of the final sites:\n"
          f"```\n{json.dumps(result, indent=1)}\n```\nTotal {elapsed / 60:.1f} min.")  # fmt: skip


if __name__ == "__main__":
    args = sys.argv[1:]
    out, keep = (args[args.index(o) + 1] if o in args else None for o in ("--out", "--keep"))
    numbers = [a for a in args if a.isdigit()]
    main(int(numbers[0]) if numbers else 20, out, keep)
