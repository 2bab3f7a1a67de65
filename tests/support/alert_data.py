"""Documents, narratives and machine-written decisions written into a real database with
plain SQL, dated relative to a given 'now': the data alerts are computed from."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb


class Corpus:
    """Adds documents to ``db``: ``add(source, lang, seen, narrative=, machine_written=)``."""

    def __init__(self, db, now: datetime):
        self.db, self.now, self.n = db, now, 0
        self.narratives: set[int] = set()
        self._con = None

    def close(self) -> None:
        """Close the connection documents were added through (before anything else opens
        the file: one process cannot hold it twice)."""
        if self._con is not None:
            self._con.close()
            self._con = None

    def add(self, source, lang, seen: datetime, narrative=None, machine_written=None, title=None):
        from pipeline.extract import ExtractStage

        self.n += 1
        doc = f"d{self.n:05d}"
        url = f"https://{source}.example/{doc}"
        if self._con is None:
            self._con = duckdb.connect(str(self.db))
        con = self._con
        con.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, 1)",
                    [doc, url, source, seen, seen])  # fmt: skip
        con.execute(
            "INSERT INTO document_versions (doc_id, version, url, source, origin, fetched_at,"
            " content_hash) VALUES (?, 1, ?, ?, 'test', ?, ?)",
            [doc, url, source, seen, doc],
        )
        con.execute(
            "INSERT INTO extractions (doc_id, version, stage_version, title, published_at, "
            "text) VALUES (?, 1, 'test', ?, ?, 'text')",
            [doc, title or f"story {narrative}", seen],
        )
        con.execute(
            "INSERT INTO stage_state VALUES (?, 1, 'extract', ?, 'done', NULL, ?)",
            [doc, ExtractStage().version, seen],
        )
        con.execute("INSERT INTO languages VALUES (?, 1, 'test', ?, 1.0, 'test')", [doc, lang])
        if narrative is not None:
            if narrative not in self.narratives:
                con.execute(
                    "INSERT INTO narratives VALUES (?, ?, ?, 'test-model', 0, ?, [1.0, 0.0])",
                    [narrative, seen, seen, seen],
                )
                self.narratives.add(narrative)
            con.execute(
                "INSERT INTO narrative_members VALUES (?, ?, 0.9, 'test', ?)",
                [doc, narrative, seen],
            )
        if machine_written is not None:
            con.execute(
                "INSERT INTO signal_scores VALUES (?, 1, 'test', ?, ?, 1.0, ?, ?)",
                [doc, int(machine_written), float(machine_written), machine_written, seen],
            )
        return doc

    def daily(self, narrative, per_day: int, days: range, source="steady", lang="en"):
        """``per_day`` documents on each of ``days`` (days before now, 0 = the last 24h)."""
        for day in days:
            for i in range(per_day):
                seen = self.now - timedelta(days=day, hours=1 + i * 0.5)
                self.add(source, lang, seen, narrative)


def surge(corpus: Corpus, narrative=1, documents=12, sites=4):
    """A narrative with one document a day for two weeks, then ``documents`` in the last day."""
    corpus.daily(narrative, 1, range(1, 15), source="site0")
    for i in range(documents):
        corpus.add(f"site{i % sites}", "en", corpus.now - timedelta(hours=2 + i), narrative)


class Receiver:
    """A webhook receiver on 127.0.0.1:0: answers ``status`` to the first ``fail`` POSTs,
    waits ``hang`` seconds before answering, keeps every body it accepted; ``location``: the
    Location header of the failed answers (a redirect's)."""

    def __init__(self, fail: int = 0, hang: float = 0.0, status: int = 500,
                 location: str | None = None):  # fmt: skip
        self.bodies: list[bytes] = []
        self.auth: list[str | None] = []  # each POST's Authorization header
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                outer.posts += 1
                outer.auth.append(self.headers.get("Authorization"))
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.posts <= fail:
                    self.send_response(status)
                    if location:
                        self.send_header("Location", location)
                    self.end_headers()
                    return
                time.sleep(hang)
                outer.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # close() does not wait for a hanging answer
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/s3cret-token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
