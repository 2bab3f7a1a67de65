"""Copy groups against a reference computed from the README's words ("dedup" in Stages):
planted verbatim copies, copies differing only in case, spacing and Unicode form (full-width
letters, ligatures), edits and rewrites, chains of edits, random dates (some missing,
unusable or equal, in several time zones), pages whose next version says something else
(another story, another family's text, a stub the extract stage rejects, their site's
boilerplate), a site's short boilerplate, in random arrival orders over several `process`
runs and batch sizes; then `process` again (nothing changes) and the stage redone with
`--force` (the same groups). The reference is not the stage's code: a near copy is a pair of
texts whose datasketch MinHash (128 permutations, seed 1) over their word 3-shingles
estimates a Jaccard of 0.5 or more and that share an LSH bucket (25 bands of 5 rows, each
band's BLAKE2b, as pipeline/dedup.py documents the layout); chains of edits then give
members with no direct link to their origin (``via``). One seed runs in the suite;
NARRASCOPE_RANDOM_SEEDS=N runs N seeds."""

from __future__ import annotations

import hashlib
import os
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.dedup import DedupStage
from pipeline.extract import ExtractStage
from pipeline.langid import LangIdStage
from pipeline.runner import run_stages
from storage import connect
from storage.documents import store_pages
from storage.records import PageRecord
from storage.urls import doc_id_for

SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))
KINDS = ("exact", "near")
STUB = ("Just a moment... Checking your browser before accessing the site. Please enable "
        "JavaScript and cookies to continue. Ray ID: 7a1b2c3d4e5f")  # fmt: skip


def norm(text: str) -> str:
    """README: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def shingle_set(text: str) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", norm(text))
    return {tuple(words[i : i + 3]) for i in range(max(len(words) - 2, 1))}


_SIGNED: dict[str, tuple] = {}


def signed(text: str) -> tuple:
    """(MinHash values, LSH band buckets) of a text, from datasketch directly."""
    if text not in _SIGNED:
        m = MinHash(num_perm=128, seed=1)
        for s in shingle_set(text):
            m.update(" ".join(s).encode("utf-8"))
        values = m.hashvalues.astype("<u4")
        bands = {(i, hashlib.blake2b(values[i * 5 : i * 5 + 5].tobytes(), digest_size=8).digest())
                 for i in range(25)}  # fmt: skip
        _SIGNED[text] = (values, bands)
    return _SIGNED[text]


def relation(a: str, b: str) -> tuple[str, float] | None:
    """('exact', 1.0), ('near', the Jaccard estimate) or None: what links two texts."""
    if norm(a) == norm(b):
        return ("exact", 1.0)
    (va, ba), (vb, bb) = signed(a), signed(b)
    estimate = round(float(np.mean(va == vb)), 4)
    return ("near", estimate) if ba & bb and estimate >= 0.5 else None


class Words:
    def __init__(self, rng: random.Random) -> None:
        syll = [c + v for c in "bdgklmnprstvz" for v in "aeiou"] + ["fi", "fla", "ffo"]
        vocab = {"".join(rng.choice(syll) for _ in range(rng.randint(2, 4))) for _ in range(4000)}
        self.vocab, self.rng = sorted(vocab), rng

    def words(self, n: int) -> list[str]:
        return [self.rng.choice(self.vocab) for _ in range(n)]

    def text(self, n: int) -> str:
        out, words = [], self.words(n)
        while words:
            k = self.rng.randint(7, 14)
            sentence, words = words[:k], words[k:]
            out.append(" ".join([sentence[0].capitalize(), *sentence[1:]]) + ".")
        return " ".join(out)


def edit(rng: random.Random, w: Words, text: str) -> str:
    """A few words replaced, a short phrase put in front (Jaccard about 0.9) or a passage
    rewritten."""
    tokens = text.split(" ")
    if rng.random() < 0.4:  # a passage rewritten: Jaccard about 0.6 to 0.75
        k = len(tokens) * rng.randint(12, 22) // 100
        i = rng.randrange(len(tokens) - k)
        return " ".join(tokens[:i] + w.words(k) + tokens[i + k :])
    if rng.random() < 0.3:
        return " ".join(w.words(4)).capitalize() + ". " + text
    for _ in range(rng.randint(1, 5)):
        i = rng.randrange(len(tokens))
        tokens[i] = w.words(1)[0] + ("." if tokens[i].endswith(".") else "")
    return " ".join(tokens)


def restyle(rng: random.Random, text: str) -> str:
    """The same text to NFKC, case folding and collapsed whitespace: full-width letters,
    ligatures, upper case, doubled spaces and tabs."""
    out = []
    for token in text.split(" "):
        r = rng.random()
        if r < 0.1:
            token = "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c
                            for c in token)  # fmt: skip
        elif r < 0.2:
            token = token.upper()
        token = token.replace("fi", "\ufb01").replace("fl", "\ufb02")
        out.append(token)
    return "".join(t + rng.choice([" ", " ", " ", "  ", "\t", " \t "]) for t in out).strip()


@dataclass
class Page:
    url: str
    texts: list[str]  # one per version
    dates: list[str | None]  # hint_published_at per version
    short: bool = False

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.url)


@dataclass
class World:
    pages: list[Page] = field(default_factory=list)


def world(rng: random.Random) -> World:
    w = Words(rng)
    days = [f"2026-01-{d:02d}T08:00:00+00:00" for d in rng.sample(range(1, 28), 5)]

    def date() -> str | None:
        r = rng.random()
        if r < 0.25:
            return None
        if r < 0.35:  # no date, or none to use: not read, before 1900, years ahead
            return rng.choice(["yesterday", "1850-03-01T00:00:00+00:00", "2031-01-01T00:00:00Z"])
        day = datetime.fromisoformat(rng.choice(days))  # an instant, in some time zone
        return day.astimezone(timezone(timedelta(hours=rng.choice([0, 2, -5])))).isoformat()

    texts: list[str] = []  # every text a page says, at any version
    pages: list[Page] = []

    site = iter(range(10**6))
    for _family in range(rng.randint(4, 7)):
        family = [w.text(rng.randint(150, 200))]
        texts.append(family[0])
        for _ in range(rng.randint(1, 8)):
            parent = family[-1] if rng.random() < 0.7 else rng.choice(family)
            r = rng.random()
            if r < 0.25:
                new = parent
            elif r < 0.45:
                new = restyle(rng, parent)
            elif r < 0.85:
                new = edit(rng, w, parent)
            else:  # the first sentences kept, the rest another story
                words = parent.split(" ")
                new = " ".join(words[:15] + w.text(len(words) - 15).split(" "))
            family.append(new)
            texts.append(new)
        for text in family:
            host = "boiler.example" if rng.random() < 0.1 else f"s{next(site)}.example"
            pages.append(Page(f"https://{host}/a/{len(pages)}", [text], [date()]))
    # a site's short text at 2 to 4 addresses, and once on another site
    short = w.text(40)
    boiler = rng.randint(2, 4)
    for i in range(boiler):
        pages.append(Page(f"https://boiler.example/p/{i}", [short], [date()], short=True))
    pages.append(Page("https://elsewhere.example/x", [restyle(rng, short)], [date()], short=True))
    texts.append(short)
    # some pages change (once or twice): an edit of their text, another family's text, a new
    # story, a stub the extract stage rejects, or (on the boilerplate's site) the short text
    for page in rng.sample([p for p in pages if not p.short], 4) * 2:
        if rng.random() < 0.4 or page.texts[-1] in (STUB, short):
            continue
        r = rng.random()
        if r < 0.3:
            new = edit(rng, w, page.texts[-1])
        elif r < 0.6:
            new = rng.choice([p.texts[0] for p in pages if not p.short])
        elif r < 0.75:
            new = w.text(170)
        elif r < 0.9 or "boiler" not in page.url:
            new = STUB
        else:
            new = short
        if new == page.texts[-1]:
            continue
        texts.append(new)
        page.texts.append(new)
        page.dates.append(rng.choice([page.dates[-1], date()]))
    return World(pages)


def date_of(hint: str | None) -> datetime | None:
    """A page's date: an ISO 8601 instant from 1900 to two days after its fetch (all fetches
    are in February 2026)."""
    try:
        when = datetime.fromisoformat(hint or "")
    except ValueError:
        return None
    return when if 1900 <= when.year and when <= datetime(2026, 3, 3, tzinfo=UTC) else None


def expected(pages: list[Page], first_seen: dict[str, datetime]) -> dict:
    """What the README promises, from the pages' current texts."""
    # a site's short text at three addresses or more is its boilerplate
    served: dict[tuple[str, str], set[str]] = {}
    for p in pages:
        if len(p.texts[-1].split()) <= 160 and p.texts[-1] != STUB:
            served.setdefault((p.url.split("/")[2], norm(p.texts[-1])), set()).add(p.url)
    rejected = {doc_id_for(u) for urls in served.values() if len(urls) >= 3 for u in urls}
    # a page whose new version a stage rejects (a stub, its site's boilerplate) stays the
    # article it was
    kept = {p.doc_id: p.texts[-2] for p in pages
            if len(p.texts) > 1 and (p.texts[-1] == STUB or p.doc_id in rejected)}  # fmt: skip
    current = {p.doc_id: p.texts[-1] for p in pages if p.doc_id not in rejected} | kept
    current = {d: t for d, t in current.items() if t != STUB}
    seen = {}  # published (of the version kept), else first seen
    for p in pages:
        d = p.dates[-2] if p.doc_id in kept else p.dates[-1]
        seen[p.doc_id] = date_of(d) or first_seen[p.doc_id]
    ids = sorted(current)
    edges: dict[frozenset, str] = {}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            found = relation(current[a], current[b])
            if found:
                edges[frozenset((a, b))] = found
    parent = {d: d for d in ids}

    def root(d: str) -> str:
        while parent[d] != d:
            d = parent[d]
        return d

    for pair in edges:
        a, b = sorted(pair)
        parent[root(a)] = root(b)
    groups: dict[str, set[str]] = {}
    for d in ids:
        groups.setdefault(root(d), set()).add(d)
    groups = {min(g): g for g in groups.values() if len(g) > 1}
    origin = {}
    for g in groups.values():
        o = min(g, key=lambda d: (seen[d], d))
        origin.update((d, o) for d in g)
    stubs = {p.doc_id for p in pages if p.texts[-1] == STUB}
    return {"rejected": rejected, "edges": edges, "groups": groups, "origin": origin,
            "current": current, "stubs": stubs}  # fmt: skip


def store_state(db) -> dict:
    with connect(db, read_only=True) as con:
        q = con.execute
        links = q("SELECT doc_id, other_doc_id, kind, similarity FROM copy_links").fetchall()
        copies = q("SELECT doc_id, group_id, copy_of, copy_kind, similarity, via, group_size "
                   "FROM v_copies").fetchall()  # fmt: skip
        docs = q("SELECT doc_id, copy_group_id, copy_of, copy_kind FROM v_documents").fetchall()
        members = q("SELECT doc_id, group_id FROM copy_members").fetchall()
        rejected = q(
            "SELECT DISTINCT r.doc_id, r.stage FROM rejections r JOIN documents d "
            "ON d.doc_id = r.doc_id AND d.current_version = r.version"
        ).fetchall()
        texts = dict(q("SELECT e.doc_id, e.text FROM extractions e JOIN documents d "
                       "ON d.doc_id = e.doc_id AND d.current_version = e.version").fetchall())  # fmt: skip
    return {"links": sorted(links), "copies": sorted(copies), "docs": sorted(docs),
            "members": sorted(members), "rejected": sorted(rejected), "texts": texts}  # fmt: skip


def check(state: dict, want: dict, label: str) -> None:
    current = want["current"]
    for d, text in current.items():  # the stage reads what extraction kept
        if d not in want["stubs"] | want["rejected"]:
            assert norm(state["texts"][d]) == norm(text), (label, d)
    got_rejected = {d for d, stage in state["rejected"] if stage == "dedup"}
    assert {d for d, stage in state["rejected"] if stage != "dedup"} == want["stubs"], label
    assert got_rejected == want["rejected"], label
    # every pair of copies is linked once, with the kind the texts say
    got_edges: dict[frozenset, str] = {}
    for a, b, kind, sim in state["links"]:
        pair = frozenset((a, b))
        assert pair not in got_edges, (label, "linked both ways", a, b)
        got_edges[pair] = (kind, sim)
    assert got_edges == want["edges"], (label, {k: v for k, v in got_edges.items()
                                                if want["edges"].get(k) != v},
                                        {k: v for k, v in want["edges"].items()
                                         if got_edges.get(k) != v})  # fmt: skip
    # the partition into groups, and the origin
    got_groups: dict[str, set[str]] = {}
    for d, g in state["members"]:
        got_groups.setdefault(g, set()).add(d)
    assert sorted(map(sorted, got_groups.values())) == sorted(
        map(sorted, want["groups"].values())
    ), label
    sims = {}
    for a, b, kind, sim in state["links"]:
        sims[(a, b)] = sims[(b, a)] = (kind, sim)
    rows = {r[0]: r for r in state["copies"]}
    assert rows.keys() == want["origin"].keys(), label
    for d, (_, group, copy_of, kind, sim, via, size) in rows.items():
        o = want["origin"][d]
        assert copy_of == o, (label, d, copy_of, o)
        assert size == len(got_groups[group]), label
        if d == o:
            assert (kind, sim, via) == ("origin", None, None), (label, d)
        elif norm(current[d]) == norm(current[o]):
            assert (kind, sim, via) == ("exact", 1.0, None), (label, d)
        elif (d, o) in sims:
            assert (kind, sim, via) == (*sims[(d, o)], None), (label, d)
        else:  # the strongest link, of equally strong ones the smallest doc_id
            best = min((-s, other) for (a, other), (_, s) in sims.items() if a == d)
            assert via == best[1] and (kind, sim) == sims[(d, via)], (label, d, via, best)
    for group, members in got_groups.items():  # named after one of its documents
        assert group.removeprefix("cg-") in members, (label, group, members)
    docs = {r[0]: r[1:] for r in state["docs"]}
    for d, (group, copy_of, kind) in docs.items():
        if d in rows:
            r = rows[d]
            assert (group, copy_of if kind != "origin" else None, kind) == (
                r[1], r[2] if r[3] != "origin" else None, r[3]), (label, d)  # fmt: skip
            assert copy_of == (None if r[3] == "origin" else r[2]), (label, d, copy_of)
        else:
            assert (group, copy_of, kind) == (None, None, None), (label, d)


def counts(reports: list) -> None:
    """A run's summary counts each document that copies one processed before it once, as its
    closest kind (runs that store a changed page or a short text aside)."""
    text: dict[str, str] = {}
    for run, report in reports:
        new = {p.doc_id: p.texts[v] for p, v in run}
        if all(v == 0 and not p.short for p, v in run):
            want: dict[str, int] = {}
            before = dict(text)
            for d, t in new.items():  # stored in the order first seen, processed so
                kinds = {r[0] for o in before.values() if (r := relation(t, o))}
                closest = next((k for k in KINDS if k in kinds), None)
                if closest:
                    key = f"{closest}_copies_of_earlier_documents"
                    want[key] = want.get(key, 0) + 1
                before[d] = t
            [dedup] = [s for s in report.stages if s.stage == "dedup"]
            assert dedup.counters == want, (run, dedup.counters, want)
        for p, v in run:  # a stub leaves the article it was; short texts copy no article
            if p.texts[v] == STUB or p.short:
                continue
            if len(p.texts[v].split()) < 100:  # an article now its site's boilerplate
                return  # kept as the article it was or not: the later runs are not counted
            text[p.doc_id] = p.texts[v]


def play(tmp_path, rng: random.Random, pages: list[Page], label: str):
    """Store the pages in a random order over several runs (each changed page's new version
    in a run after its first), processing after each with a random batch size."""
    db = tmp_path / f"{label}.duckdb"
    stages = [ExtractStage(), LangIdStage(), DedupStage(translated=False)]
    order = rng.sample(pages, len(pages))
    cuts = sorted(rng.sample(range(1, len(order)), rng.randint(1, 3)))
    chunks = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    later = [(p, v) for p in pages for v in range(1, len(p.texts))]
    runs: list[list[tuple[Page, int]]] = [[(p, 0) for p in c] for c in chunks] + [[]]
    for p, v in later:  # after the run that stored its version before
        at = next(i for i, run in enumerate(runs) if (p, v - 1) in run)
        if at == len(runs) - 1:
            runs.append([])
        runs[rng.randint(at + 1, len(runs) - 1)].append((p, v))
    clock = datetime(2026, 2, 1, tzinfo=UTC)
    first_seen: dict[str, datetime] = {}
    reports = []
    for i, run in enumerate(runs):
        records = []
        for p, v in run:
            clock += timedelta(minutes=rng.choice([1, 7, 60]))
            first_seen.setdefault(p.doc_id, clock)
            records.append(PageRecord(url=p.url, source=p.url.split("/")[2], origin="import",
                                      fetched_at=clock, text=p.texts[v], hint_lang="en",
                                      hint_published_at=p.dates[v]))  # fmt: skip
        if records:
            with connect(db) as con:
                store_pages(con, records)
        size = rng.choice([1, 2, 3, 8])
        report = run_stages(db, stages, batch_size=size, run_id=f"{label}-r{i}")
        reports.append((run, report))
    return db, stages, first_seen, reports


@pytest.mark.parametrize("seed", range(SEEDS))
def test_copy_groups_match_the_readme_whatever_the_order(tmp_path, seed):
    """Links (each pair once, its kind and estimate), rejections, groups, origins, v_copies'
    relation, similarity and `via`, v_documents' copy columns and each run's summary, in two
    arrival orders of the same pages."""
    rng = random.Random(seed)
    pages = world(rng).pages
    partitions = []
    for order in range(2):
        label = f"s{seed}-o{order}"
        db, stages, first_seen, reports = play(tmp_path, rng, pages, label)
        want = expected(pages, first_seen)
        state = store_state(db)
        check(state, want, label)
        counts(reports)
        groups: dict[str, list[str]] = {}
        for d, g in state["members"]:
            groups.setdefault(g, []).append(d)
        partitions.append(sorted(map(sorted, groups.values())))
        # a re-run changes nothing
        run_stages(db, stages, batch_size=2, run_id=f"{label}-again")
        again = store_state(db)
        assert again == state, label
        # the stage redone for every document: the same groups, origins and relations
        run_stages(db, stages[2:], batch_size=3, run_id=f"{label}-force", force=["dedup"])
        check(store_state(db), want, f"{label} forced")
    assert partitions[0] == partitions[1]
