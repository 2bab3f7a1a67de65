"""A seeded randomized check of the narratives' promises (README, "cluster"): planted stories in
several languages, copies, random dates (gaps over the 30-day window, dates missing), imported
in random order over several `process` runs with random batch sizes, pages that change text in
a later version, a `cluster --rebuild` at a random point. After every run: each clustered
document is in one live narrative, copies sit in their group's narrative, no id ever given out
vanishes, `v_narratives` counts its members, the stored state the rule reads (size, last date)
is its members', a second `process` changes nothing, and the run's `narrative_new` counts the
narratives the run really started. One short seed by default; NARRASCOPE_RANDOM_SEEDS=N for
more. No embedding model: `[cluster] vectors = "words"` (none of these depends on it);
``run_seed(tmp_path, seed, "embed")`` runs a smaller corpus with the packaged e5 model (about
60 s a seed, too slow for the suite)."""

from __future__ import annotations

import json
import math
import os
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from crawlers.jsonl_import import import_files
from pipeline.dedup import DedupStage
from pipeline.embed import EmbedStage
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.narratives import ClusterStage
from pipeline.rebuild import rebuild
from pipeline.runner import run_stages
from storage import connect
from storage.documents import seen_at_sql

SEEDS = range(int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1")))
WINDOW = timedelta(days=30)
FUNCTION = {
    "en": "the of and to in that was for on with as by at from".split(),
    "de": "der die und das den zu mit von auf für ist im dem nicht".split(),
    "fr": "le la les et des du que pour dans sur avec par une est".split(),
    "es": "el la los las y de que en para con por una es del".split(),
    "it": "il la di che e per con una del della sono nel alla".split(),
}
SYLLABLES = "ka lo mi ne ru ta ve zo bi du fa ge hi jo ku la mo ni po sa te vu wi xa yo".split()


def article(rng: random.Random, lang: str, words: list[str]) -> tuple[str, str]:
    """(title, text) of a piece on the story told by ``words``: leads of one story are alike
    (character n-grams), whole texts are not copies of each other."""
    pick = rng.sample(words, 18)
    func = FUNCTION[lang]
    sentences = []
    for i in range(0, 18, 3):
        chunk = [pick[i], rng.choice(func), pick[i + 1], rng.choice(func), pick[i + 2]]
        sentences.append(" ".join(chunk).capitalize() + " " + " ".join(
            rng.sample(func, 4) + rng.sample(words, 4)) + ".")  # fmt: skip
    title = " ".join(rng.sample(words[:8], 4)).capitalize()
    return title, " ".join(sentences * 2)


def stages(vectors: str = "words") -> list:
    embed = [EmbedStage()] if vectors == "embed" else []
    return [ExtractStage(), LangIdStage(), *embed, DedupStage(translated=False),
            ClusterStage(vectors=vectors)]  # fmt: skip


class Corpus:
    """Stories: a language, a vocabulary of made-up words (twins share most of theirs, so
    that they can converge and merge), a span of dates."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.stories = []
        base = datetime(2026, 5, 1, tzinfo=UTC)
        for _ in range(rng.randint(4, 6)):
            lang = rng.choice(sorted(FUNCTION))
            words = [self.word() for _ in range(30)]
            start = base + timedelta(days=rng.randint(0, 150))
            self.stories.append((lang, words, start))
            if rng.random() < 0.4:  # a twin: the same language, most of the words
                twin = words[:24] + [self.word() for _ in range(6)]
                self.stories.append((lang, twin, start + timedelta(days=rng.randint(-5, 5))))

    def word(self) -> str:
        return "".join(self.rng.choice(SYLLABLES) for _ in range(self.rng.randint(2, 4)))

    def text(self, story: int) -> tuple[str, str]:
        lang, words, _ = self.stories[story]
        return article(self.rng, lang, words)

    def date(self, story: int) -> str | None:
        if self.rng.random() < 0.1:
            return None  # no date: first seen (the import's time)
        start = self.stories[story][2]
        # days 0-100: gaps over the window within a story
        return (start + timedelta(days=self.rng.randint(0, 100),
                                  hours=self.rng.randint(0, 23))).isoformat()  # fmt: skip


def documents(rng: random.Random, size: tuple[int, int] = (40, 70)) -> list[dict]:
    corpus = Corpus(rng)
    docs = []
    for n in range(rng.randint(*size)):
        story = rng.randrange(len(corpus.stories))
        title, text = corpus.text(story)
        doc = {"url": f"https://site{rng.randint(0, 5)}.example/{story}/{n}", "title": title,
               "text": text, "lang": corpus.stories[story][0], "source": "s"}  # fmt: skip
        if (date := corpus.date(story)) is not None:
            doc["published_at"] = date
        doc["source"] = doc["url"].split("/")[2]
        docs.append(doc)
        if rng.random() < 0.2:  # a copy elsewhere, exact or edited
            copy = dict(doc, url=f"https://copy{rng.randint(0, 3)}.example/{n}",
                        source=f"copy{n % 3}")  # fmt: skip
            if rng.random() < 0.5:
                copy["text"] = "From our correspondent. " + doc["text"]
            if rng.random() < 0.5 and "published_at" in doc:
                copy["published_at"] = (
                    datetime.fromisoformat(doc["published_at"]) + timedelta(days=1)
                ).isoformat()
            docs.append(copy)
    rng.shuffle(docs)
    # a later version of some pages: another story's text, or the same story retold
    for doc in rng.sample(docs, max(1, len(docs) // 8)):
        story = rng.randrange(len(corpus.stories))
        title, text = corpus.text(story)
        later = dict(doc, title=title, text=text, lang=corpus.stories[story][0])
        if (date := corpus.date(story)) is not None:
            later["published_at"] = date
        else:
            later.pop("published_at", None)
        docs.insert(rng.randint(docs.index(doc) + 1, len(docs)), later)
    return docs


def snapshot(con) -> dict:
    q = lambda sql: sorted(con.execute(sql).fetchall())  # noqa: E731
    return {
        "members": q("SELECT doc_id, narrative_id FROM narrative_members"),
        "narratives": q("SELECT narrative_id, size, last_seen FROM narratives"),
        "parts": q("SELECT narrative_id, lang, size FROM narrative_parts"),
        "aliases": q("SELECT alias_id, narrative_id FROM narrative_aliases"),
    }


def check(con, seen_ids: set, where: str) -> None:
    """The invariants (see the module docstring) on the store as it is."""
    live = {n for (n,) in con.execute("SELECT narrative_id FROM narratives").fetchall()}
    resolve = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
    aliases = dict(con.execute("SELECT alias_id, narrative_id FROM narrative_aliases").fetchall())
    for alias, target in aliases.items():
        hops, at = 0, target
        while at in aliases:
            at, hops = aliases[at], hops + 1
            assert hops < 100, f"{where}: alias cycle through {alias}"
        assert at in live, f"{where}: alias {alias} -> {target} leads to no live narrative"
    lost = sorted(i for i in seen_ids if resolve.get(i) not in live)
    assert not lost, f"{where}: ids given out that no longer resolve: {lost}"
    seen_ids |= live | set(aliases)
    clustered = con.execute(
        "SELECT d.doc_id, d.narrative_id FROM v_documents d JOIN stage_state s "
        "ON s.doc_id = d.doc_id AND s.version = d.version AND s.stage = 'cluster' "
        "AND s.status = 'done'"
    ).fetchall()
    unplaced = sorted(doc for doc, nid in clustered if nid not in live)
    assert not unplaced, f"{where}: clustered documents in no live narrative: {unplaced}"
    # a page placed once stays placed (by its earlier version while a new one waits), unless
    # a stage rejected it (none does here)
    dropped = con.execute(
        "SELECT DISTINCT s.doc_id FROM stage_state s WHERE s.stage = 'cluster' AND s.status = "
        "'done' AND s.doc_id NOT IN (SELECT doc_id FROM narrative_members) AND s.doc_id NOT IN "
        "(SELECT doc_id FROM stage_state WHERE status = 'rejected') ORDER BY 1"
    ).fetchall()
    assert not dropped, f"{where}: placed documents in no narrative: {dropped}"
    twice = con.execute(
        "SELECT doc_id FROM narrative_members GROUP BY 1 HAVING count(*) > 1"
    ).fetchall()
    assert not twice, f"{where}: documents in two narratives: {twice}"
    groups = defaultdict(set)
    for group, nid in con.execute(
        "SELECT c.group_id, m.narrative_id FROM copy_members c "
        "JOIN narrative_members m USING (doc_id)"
    ).fetchall():
        groups[group].add(nid)
    split = {g: n for g, n in groups.items() if len(n) > 1}
    assert not split, f"{where}: copy groups over several narratives: {split}"
    # v_narratives against plain counts over its members
    rows = con.execute(
        f"SELECT m.narrative_id, d.doc_id, d.source, l.lang, {seen_at_sql('x')}, "
        "r.copy_of IN (SELECT doc_id FROM narrative_members m2 "
        "WHERE m2.narrative_id = m.narrative_id) IS TRUE "
        "FROM narrative_members m JOIN documents d USING (doc_id) "
        "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version "
        "LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = d.current_version "
        "LEFT JOIN languages l ON l.doc_id = d.doc_id AND l.version = d.current_version "
        "LEFT JOIN v_documents r ON r.doc_id = d.doc_id"
    ).fetchall()
    members = defaultdict(list)
    for nid, *rest in rows:
        members[nid].append(rest)
    expected = {
        nid: (len(ms), sum(1 for *_, copy in ms if not copy), len({m[1] for m in ms}),
              len({m[2] for m in ms} - {None}), min(m[3] for m in ms), max(m[3] for m in ms))
        for nid, ms in members.items()
    }  # fmt: skip
    got = {
        nid: tuple(rest)
        for nid, *rest in con.execute(
            "SELECT narrative_id, documents, independent_documents, sites, languages, "
            "first_seen, last_seen FROM v_narratives"
        ).fetchall()
    }
    differ = {n: (got.get(n), expected.get(n)) for n in {*got, *expected}
              if got.get(n) != expected.get(n)}  # fmt: skip
    assert not differ, f"{where}: v_narratives counts differ from its members': {differ}"
    # the state the rule reads: a narrative's size and last date are its members' (but for
    # the narratives of a page whose new version waits for `process`: placed by its earlier
    # version, dated by it till then)
    stored = {
        nid: (size, last)
        for nid, size, last in con.execute(
            "SELECT narrative_id, size, last_seen FROM narratives n WHERE NOT EXISTS (SELECT 1 "
            "FROM narrative_members m JOIN documents d USING (doc_id) WHERE m.narrative_id = "
            "n.narrative_id AND NOT EXISTS (SELECT 1 FROM stage_state s WHERE s.doc_id = "
            "d.doc_id AND s.version = d.current_version AND s.stage = 'cluster'))"
        ).fetchall()
    }
    expected = {nid: e for nid, e in expected.items() if nid in stored}
    counted = {nid: (e[0], e[5]) for nid, e in expected.items()}
    differ = {n: (stored.get(n), counted.get(n)) for n in {*stored, *counted}
              if stored.get(n) != counted.get(n)}  # fmt: skip
    assert not differ, f"{where}: narratives' stored size/last_seen, members': {differ}"


def placements(con) -> set[tuple[str, int, datetime]]:
    """(doc, narrative, date) of every member now."""
    return set(con.execute(
        f"SELECT m.doc_id, m.narrative_id, {seen_at_sql('x')} FROM narrative_members m "
        "JOIN documents d USING (doc_id) "
        "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version "
        "LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = d.current_version"
    ).fetchall())  # fmt: skip


def window_check(con, before: set, run_id: str, where: str) -> None:
    """A document this run placed in the nearest narrative joined one that had a member within
    the window before its date: among the members before the run and after it (a member may
    have left since, a changed page placed elsewhere), their narratives resolved as now."""
    resolve = dict(con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall())
    now = placements(con)
    dates = defaultdict(list)
    for doc, nid, seen in before | now:
        dates[resolve.get(nid, nid)].append((doc, seen))
    joined = con.execute(
        f"SELECT m.doc_id, m.narrative_id, {seen_at_sql('x')} FROM narrative_members m "
        "JOIN documents d USING (doc_id) "
        "JOIN document_versions v ON v.doc_id = d.doc_id AND v.version = d.current_version "
        "LEFT JOIN extractions x ON x.doc_id = d.doc_id AND x.version = d.current_version "
        "JOIN stage_state s ON s.doc_id = d.doc_id AND s.version = d.current_version "
        "AND s.stage = 'cluster' WHERE m.via = 'nearest' AND s.run_id = ?",
        [run_id],
    ).fetchall()
    for doc, nid, seen in joined:
        near = [o for o, at in dates[nid] if o != doc and at >= seen - WINDOW]
        assert near, f"{where}: {doc} joined narrative {nid} with no member within 30 days"


def run_seed(tmp_path, seed: int, vectors: str = "words") -> None:
    rng = random.Random(seed)
    docs = documents(rng, (40, 70) if vectors == "words" else (12, 18))
    pipeline = stages(vectors)  # one model load for the seed
    db = tmp_path / f"s{seed}.duckdb"
    seen_ids: set = set()
    runs = rng.randint(3, 5)
    cuts = sorted(rng.sample(range(1, len(docs)), runs - 1))
    # `cluster --rebuild` after a run's import (new versions not yet processed) or its process
    rebuild_at = (rng.randrange(1, runs), rng.choice(("import", "process")))
    for r, (lo, hi) in enumerate(zip([0, *cuts], [*cuts, len(docs)], strict=True)):
        src = tmp_path / f"s{seed}-{r}.jsonl"
        part = docs[lo:hi]
        src.write_text("".join(json.dumps(d) + "\n" for d in part))
        import_files(db, [src])
        where = f"seed {seed} run {r}"
        if rebuild_at == (r, "import"):
            rebuild_and_check(db, vectors, seen_ids, where + " rebuilt after the import")
        with connect(db, read_only=True) as con:
            before = set(con.execute("SELECT id FROM v_narrative_ids").fetchall())
            placed = placements(con)
        batch = rng.randint(1, 6)
        report = run_stages(db, pipeline, batch_size=batch, run_id=f"r{seed}-{r}")
        counters = report.as_dict().get("cluster", {})
        with connect(db, read_only=True) as con:
            after = set(con.execute("SELECT id FROM v_narrative_ids").fetchall())
            check(con, seen_ids, where)
            window_check(con, placed, f"r{seed}-{r}", where)
            state = snapshot(con)
        started = len(after - before)
        assert counters.get("narrative_new", 0) == started, (
            f"{where}: the summary counts {counters.get('narrative_new', 0)} new narratives, "
            f"{started} ids were given out"
        )
        run_stages(db, pipeline, batch_size=rng.randint(1, 6), run_id=f"r{seed}-{r}-again")
        with connect(db, read_only=True) as con:
            assert snapshot(con) == state, f"{where}: a second process changed the narratives"
        if rebuild_at == (r, "process"):
            rebuild_and_check(db, vectors, seen_ids, where + " rebuilt after the process")


def rebuild_and_check(db, vectors: str, seen_ids: set, where: str) -> None:
    rebuild(db, {"vectors": vectors})
    with connect(db, read_only=True) as con:
        check(con, seen_ids, where)


@pytest.mark.parametrize("seed", SEEDS)
def test_narratives_keep_their_promises_over_random_runs(tmp_path, seed):
    run_seed(tmp_path, seed)


def import_docs(tmp_path, db, name: str, docs: list[dict]) -> None:
    src = tmp_path / f"{name}.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    import_files(db, [src])


def narrative_of(db, url_part: str) -> int | None:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT narrative_id FROM v_documents WHERE url LIKE ?", [f"%{url_part}"]
        ).fetchone()[0]


def test_a_narrative_a_changed_page_left_is_silent_from_its_remaining_documents_dates(tmp_path):
    """b (July 5) and a (August 1) tell one story: one narrative. a's page then tells another
    story and leaves it; the narrative's last document is b, 51 days before c (August 25), so
    c starts a new narrative. Before the fix the narrative kept a's August 1 as its last date
    (the stage wrote its state over storage's recount) and c joined it."""
    rng = random.Random(7)
    words = ["".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(60)]
    x, y = words[:30], words[30:]

    def doc(url: str, words: list[str], date: str) -> dict:
        title, text = article(rng, "en", words)
        return {"url": f"https://{url}", "title": title, "text": text, "lang": "en",
                "source": url.split("/")[0], "published_at": date}  # fmt: skip

    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db, "1", [doc("b.example/b", x, "2026-07-05T08:00:00+00:00"),
                                    doc("a.example/a", x, "2026-08-01T08:00:00+00:00")])  # fmt: skip
    run_stages(db, stages(), batch_size=4, run_id="r1")
    assert narrative_of(db, "/a") == narrative_of(db, "/b") is not None
    story_x = narrative_of(db, "/b")
    import_docs(tmp_path, db, "2", [doc("a.example/a", y, "2026-08-02T08:00:00+00:00")])
    run_stages(db, stages(), batch_size=4, run_id="r2")
    assert narrative_of(db, "/a") != story_x
    import_docs(tmp_path, db, "3", [doc("c.example/c", x, "2026-08-25T08:00:00+00:00")])
    run_stages(db, stages(), batch_size=4, run_id="r3")
    with connect(db, read_only=True) as con:
        last = con.execute(
            "SELECT last_seen FROM narratives WHERE narrative_id = ?", [story_x]
        ).fetchone()[0]
    # before the fix: c in story_x, whose stored last date was a's 2026-08-01
    assert narrative_of(db, "/c") != story_x, f"c joined {story_x}, last seen {last}"
    assert last == datetime(2026, 7, 5, 8, tzinfo=UTC)


# Two orthogonal blocks of character n-grams (one Latin, one Cyrillic): a title of x Latin and
# y Cyrillic units lies at the angle atan(y/x) from the Latin one.
LATIN, CYRILLIC = "kalo mine rut sef", "кало мине рут сеф"
# b (4, 7) starts a narrative beside a's (1, 0); each piece after it lies nearer a's
# narrative, pulling it towards b's until the two converge (cosine 0.97) and merge
DRIFT = [(19, 11), (22, 17), (13, 11), (23, 21), (24, 23), (1, 1), (19, 20), (18, 19),
         (23, 25), (11, 12), (17, 19), (8, 9), (8, 9), (8, 9), (17, 20), (13, 15), (17, 20),
         (17, 20), (19, 25), (19, 25), (19, 25)]  # fmt: skip


def drifting(rng: random.Random, n: int, x: int, y: int) -> dict:
    """A piece whose title (40 units) sets its vector; its text, words of its own, sets
    little of it and makes it no copy of another."""
    scale = 40 / math.hypot(x, y)
    title = " ".join([LATIN] * round(x * scale) + [CYRILLIC] * round(y * scale))
    words = ("".join(rng.choice("bdgpvwzxq") for _ in range(5)) for _ in range(250))
    date = datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=n)
    return {"url": f"https://site{n}.example/{n}", "title": title, "text": " ".join(words),
            "lang": "en", "source": f"site{n}", "published_at": date.isoformat()}  # fmt: skip


def test_a_narrative_started_and_merged_in_one_batch_is_not_counted_as_new(tmp_path):
    """a's narrative is stored. The next run's one batch starts b's narrative, then pieces
    pull a's narrative towards it until they merge into a's (the older id): no narrative
    was formed (no id given out), so the run's summary (and v_runs.narratives_new) says 0
    new. Before the fix it said 1: b's document had started a narrative."""
    rng = random.Random(1)
    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db, "1", [drifting(rng, 0, 1, 0)])
    run_stages(db, stages(), batch_size=8, run_id="r1")
    import_docs(tmp_path, db, "2", [drifting(rng, n, x, y)
                                    for n, (x, y) in enumerate([(4, 7), *DRIFT], 1)])  # fmt: skip
    with connect(db, read_only=True) as con:
        ids = con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall()
    report = run_stages(db, stages(), batch_size=8, run_id="r2").as_dict()["cluster"]
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT id, narrative_id FROM v_narrative_ids").fetchall() == ids
        [(documents,)] = con.execute("SELECT documents FROM v_narratives").fetchall()
    assert documents == 2 + len(DRIFT)  # b's narrative merged into a's
    said = {k: n for k, n in report.items() if k.startswith("narrative")}
    # before the fix: {'narrative_merges': 1, 'narrative_nearest': 21, 'narrative_new': 1}
    assert said.get("narrative_new", 0) == 0, said
