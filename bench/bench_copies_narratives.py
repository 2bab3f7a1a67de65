"""Copies and narratives at scale: synthetic stores of 10,000 and 100,000 documents with
planted copy groups and topics (random vectors with structure), then 1,000 new documents.

Documents arrive at a constant rate (300 a day), as a monitored corpus grows: a 30-day window
holds about as many documents at 100,000 as at 10,000, so adding documents must cost about
the same (no full rescans). Run: python -m bench.bench_copies_narratives [10000 100000]
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from storage.bulk import insert_rows
from storage.db import transaction
from storage.documents import DOCUMENT_COLUMNS
from storage.outputs.langid import COLUMNS as LANGUAGE_COLUMNS

DIM = 384
TOPICS = 2000
PER_DAY = 300
MODEL = "multilingual-e5-small-q4:query"
START = datetime(2025, 1, 1, tzinfo=UTC)


class Corpus:
    """Topic word lists and centre vectors; copies of earlier documents, exact or edited."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.np = np.random.default_rng(seed)
        vocab = [f"w{i}" for i in range(20000)]
        self.topic_words = [self.rng.sample(vocab, 300) for _ in range(TOPICS)]
        centres = self.np.normal(size=(TOPICS, DIM)).astype(np.float32)
        self.centres = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        self.docs: list[dict] = []
        self.planted: list[tuple[str, str]] = []  # (copy, source)

    def make(self, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            i = len(self.docs)
            doc_id = f"s{i:07d}"
            when = START + timedelta(days=i / PER_DAY)
            if self.docs and self.rng.random() < 0.1:  # a copy of a recent document
                src = self.docs[max(0, i - self.rng.randint(1, 2000))]
                words = src["text"].split()
                if self.rng.random() < 0.5:
                    for k in self.rng.sample(range(len(words)), 4):
                        words[k] = f"e{self.rng.randint(0, 99999)}"
                doc = {**src, "doc_id": doc_id, "text": " ".join(words), "when": when}
                self.planted.append((doc_id, src["doc_id"]))
            else:
                topic = self.rng.randrange(TOPICS)
                text = " ".join(self.rng.choices(self.topic_words[topic], k=120))
                v = self.centres[topic] + 0.35 * self.np.normal(size=DIM).astype(np.float32) / 19.6
                doc = {
                    "doc_id": doc_id,
                    "text": text,
                    "vector": (v / np.linalg.norm(v)).tolist(),
                    "lang": "en" if self.rng.random() < 0.1 else "ru",
                    "when": when,
                }
            self.docs.append(doc)
            out.append(doc)
        return out


def store(db: Path, docs: list[dict]) -> None:
    """Write documents as if crawled, extracted, language-identified and embedded."""
    now = datetime.now(UTC)
    with connect(db) as con, transaction(con):
        insert_rows(
            con,
            "documents",
            DOCUMENT_COLUMNS,
            [
                (
                    d["doc_id"],
                    f"https://s.example/{d['doc_id']}",
                    "synthetic",
                    d["when"],
                    d["when"],
                    1,
                )
                for d in docs
            ],
        )
        insert_rows(
            con,
            "document_versions",
            [
                ("doc_id", "VARCHAR"),
                ("version", "INTEGER"),
                ("url", "VARCHAR"),
                ("source", "VARCHAR"),
                ("origin", "VARCHAR"),
                ("fetched_at", "TIMESTAMPTZ"),
                ("content_hash", "VARCHAR"),
                ("text", "VARCHAR"),
            ],
            [
                (
                    d["doc_id"],
                    1,
                    f"https://s.example/{d['doc_id']}",
                    "synthetic",
                    "import",
                    d["when"],
                    d["doc_id"],
                    d["text"],
                )
                for d in docs
            ],
        )
        insert_rows(
            con,
            "extractions",
            [
                ("doc_id", "VARCHAR"),
                ("version", "INTEGER"),
                ("stage_version", "VARCHAR"),
                ("text", "VARCHAR"),
            ],
            [(d["doc_id"], 1, "1", d["text"]) for d in docs],
        )
        insert_rows(
            con,
            "languages",
            LANGUAGE_COLUMNS,
            [(d["doc_id"], 1, "1", d["lang"], 1.0, "provided") for d in docs],
        )
        insert_rows(
            con,
            "embeddings",
            [
                ("doc_id", "VARCHAR"),
                ("version", "INTEGER"),
                ("stage_version", "VARCHAR"),
                ("model_id", "VARCHAR"),
                ("runtime", "VARCHAR"),
                ("dim", "INTEGER"),
                ("input", "VARCHAR"),
                ("chunks", "INTEGER"),
                ("truncated", "BOOLEAN"),
                ("text_hash", "VARCHAR"),
                ("embedded_at", "TIMESTAMPTZ"),
                ("vector", "FLOAT[]"),
            ],
            [
                (
                    d["doc_id"],
                    1,
                    "synthetic",
                    MODEL,
                    "synthetic",
                    DIM,
                    "original",
                    1,
                    False,
                    d["doc_id"],
                    now,
                    d["vector"],
                )
                for d in docs
            ],
        )
        insert_rows(
            con,
            "stage_state",
            [
                ("doc_id", "VARCHAR"),
                ("version", "INTEGER"),
                ("stage", "VARCHAR"),
                ("stage_version", "VARCHAR"),
                ("status", "VARCHAR"),
                ("processed_at", "TIMESTAMPTZ"),
            ],
            [
                (d["doc_id"], 1, s, "1", "done", now)
                for d in docs
                for s in ("extract", "langid", "embed")
            ],
        )


def timed(db: Path, stage: str) -> float:
    started = time.perf_counter()
    run_stages(db, build_stages([stage], {}), batch_size=1000)
    return time.perf_counter() - started


def recall(db: Path, planted: list[tuple[str, str]]) -> float:
    with connect(db, read_only=True) as con:
        group = dict(con.execute("SELECT doc_id, group_id FROM copy_members").fetchall())
    found = sum(group.get(a) is not None and group.get(a) == group.get(b) for a, b in planted)
    return found / len(planted)


def main(sizes: list[int]) -> None:
    print(
        "| store | build: dedup (signatures + LSH) | build: cluster | add 1,000: dedup | add 1,000: cluster | signature bytes/doc | LSH bucket rows/doc | planted copies found |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in sizes:
        corpus = Corpus()
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "s.duckdb"
            store(db, corpus.make(size))
            build_dedup, build_cluster = timed(db, "dedup"), timed(db, "cluster")
            store(db, corpus.make(1000))
            add_dedup, add_cluster = timed(db, "dedup"), timed(db, "cluster")
            with connect(db, read_only=True) as con:
                sig = con.execute("SELECT avg(octet_length(signature)) FROM minhash").fetchone()[0]
                bands = con.execute("SELECT count(*) FROM lsh_bands").fetchone()[0] / (size + 1000)
            print(
                f"| {size:,} | {build_dedup:.1f} s | {build_cluster:.1f} s | {add_dedup:.2f} s | "
                f"{add_cluster:.2f} s | {sig:.0f} | {bands:.0f} | "
                f"{recall(db, corpus.planted):.3f} ({len(corpus.planted):,}) |",
                flush=True,
            )


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [10_000, 100_000])
