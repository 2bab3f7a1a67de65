"""A seeded randomized check that search finds what the README says it finds: the demo store
plus documents imported with random planted words (Cyrillic, accents, Chinese, Arabic,
punctuation, repeated words, words split over lines, a page rejected as not news that holds
them, exact copies of a hit, a translation), random queries (words and prefixes of stored
texts and translations in any case, several words, punctuation, regex and SQL
metacharacters, words that occur nowhere, empty and very long queries) with random filters
and limits. `search --format json` and the dashboard's pages are compared with a plain
Python reading over v_documents (tests/support/search_truth.py); `similar` and `search
--semantic` with `doc_similarity` and the other macros in `narrascope sql`; bad input with the
README's exit codes. One seed runs in the suite; NARRASCOPE_RANDOM_SEEDS=N runs N seeds."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from click.testing import CliRunner

from crawlers.demo.server import load_articles, paragraphs
from pipeline.cli import cli
from tests.conftest import import_jsonl, run_cli
from tests.support.search_truth import keyword_hits, ranked_alike, semantic_rows, similar_rows

pytestmark = pytest.mark.slow

SEEDS = int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))
STATS: Counter = Counter()  # what was compared, printed at the end
PLANTED = ["zorvath", "Зорвалов", "élysée-zorva", "u.s.", "北京", "会议", "العقوبات", "ΟΔΟΣ",
           "war-", "(zorvath)", "a%b_c", "x.*y", "o'brien", "c:\\path", "[zorv]", "İzmir"]  # fmt: skip
EXTRA = {
    "fr": "L'économie française traverse une crise énergétique sans précédent, a déclaré le "
    "ministre mercredi. Les prix de l'électricité ont augmenté de 40 % depuis janvier. « C'est "
    "une situation exceptionnelle », a-t-il ajouté lors d'une conférence de presse à Paris.",
    "zh": "今天在北京举行了关于制裁的国际会议。各国代表在北京讨论了粮食价格和能源危机的问题。"
    "会议持续了三天，代表们最终达成了共识。北京市政府表示欢迎，在NATO峰会上也讨论了此事。",
    "ar": "قالت الحكومة اليوم إن العقوبات المفروضة على البلاد أدت إلى ارتفاع أسعار القمح. وأضاف "
    "المتحدث أن الحرب في المنطقة تسببت في أزمة غذائية كبيرة. وقد اجتمع الوزراء لمناقشة الوضع.",
}
BLOCKED = "Access denied. You don't have permission to access this server."
METACHARACTERS = ["%", "_", "'", "\\", "(", "[", "*", ".", "a%", "w.*", "%'--", "(?i)", "$1", "^"]


def planted_text(rng: random.Random, lang: str, base: list[str]) -> str:
    """Base sentences of the language with planted words in random forms and places."""
    words = " ".join(rng.sample(base, min(len(base), rng.randint(2, 4)))).split(" ")
    for _ in range(rng.randint(1, 6)):
        w = rng.choice(PLANTED)
        w = rng.choice([w, w.upper(), w.lower(), w.title()])
        form = rng.choice(["{}", "({})", "{},", "«{}»", "{}'s", "{} {} {}", "{}\n", "\n{}", "x{}",
                           "{}{}", "在{}"])  # fmt: skip
        words.insert(rng.randint(0, len(words)), form.format(w, w, w))
    sep = "" if lang == "zh" else " "
    return sep.join(words)


def make_docs(rng: random.Random) -> list[dict]:
    pool = {}
    for a in load_articles():
        pool.setdefault(a["lang"], []).extend(paragraphs(a))
    for lang, text in EXTRA.items():
        pool[lang] = re.split(r"(?<=[.。])\s*", text.strip())
        pool[lang] = [s for s in pool[lang] if s]
    day = datetime(2026, 11, 1, tzinfo=UTC)
    docs = []
    for i in range(rng.randint(6, 9)):
        lang = rng.choice(sorted(pool))
        doc = {"url": f"https://r{i}.example/{lang}/{i}", "text": planted_text(rng, lang, pool[lang]),
               "title": rng.choice(["", rng.choice(PLANTED) + " ", ""]) + pool[lang][0][:40]}  # fmt: skip
        if rng.random() < 0.7:
            doc["published_at"] = (day + timedelta(hours=rng.randint(0, 900))).isoformat()
        if rng.random() < 0.6:
            doc["source"] = rng.choice(["alpha", "beta"])
        docs.append(doc)
    copy = dict(rng.choice(docs), url="https://copies.example/1")  # an exact copy of a hit
    blocked = {"url": "https://blocked.example/x", "title": f"Access denied: {PLANTED[0]}",
               "text": f"{BLOCKED} {rng.choice(PLANTED)} {PLANTED[0]}"}  # fmt: skip
    return [*docs, copy, blocked]


def build(demo_db, tmp_path, rng: random.Random):
    db = tmp_path / "s.duckdb"
    shutil.copy(demo_db, db)
    import_jsonl(tmp_path, db, make_docs(rng))
    run_cli("process", "--no-progress", db=db)
    # a translated piece (no translation model here): its translation as the stage writes it
    others = sql(db, "SELECT doc_id FROM v_documents WHERE lang <> 'en' "
                 "AND url LIKE 'https://r%' ORDER BY doc_id")  # fmt: skip
    import duckdb

    with duckdb.connect(str(db)) as con:
        for row in others[:2]:
            con.execute("UPDATE translations SET status = 'translated', title = ?, text = ? "
                        "WHERE doc_id = ?", [f"Translated {rng.choice(PLANTED)}",
                        planted_text(rng, "en", ["The war went on.", "Prices rose again."]),
                        row["doc_id"]])  # fmt: skip
    return db


def cli_json(db, *args) -> tuple[int, object, str]:
    result = CliRunner().invoke(cli, ["--db", str(db), *args])
    assert "Traceback" not in result.output, result.output
    try:
        return result.exit_code, json.loads(result.output), result.output
    except ValueError:
        return result.exit_code, None, result.output


def sql(db, query: str) -> list[dict]:
    """`narrascope sql QUERY --format json`, in this process (the CLI itself, without a
    second interpreter's start)."""
    code, rows, out = cli_json(db, "sql", query, "--format", "json")
    assert code == 0, out
    return rows


def read_store(db):
    # in an order that does not depend on the demo's port (in its URLs, so in its doc ids),
    # so that a seed draws the same queries in every session
    rows = sql(db, "SELECT * FROM v_documents")
    rows.sort(key=lambda r: (re.sub(r":\d+/", "/", r["url"]), r["doc_id"]))
    for r in rows:
        if r["published_at"]:
            r["published_at"] = datetime.fromisoformat(r["published_at"])
    rejected = sql(db, "SELECT r.doc_id FROM v_rejections r JOIN documents d ON d.doc_id = r.doc_id "
        "AND d.current_version = r.version WHERE r.reason = 'not_news'")  # fmt: skip
    return rows, {r["doc_id"] for r in rejected}


def random_query(rng: random.Random, docs: list[dict]) -> tuple[str, str | None]:
    """A query of words of one document mostly, and that document's language."""
    one = rng.choice(docs)  # words of one document mostly, so that many queries find it

    def word():
        d = one if rng.random() < 0.8 else rng.choice(docs)
        fields = ["title", "text", "title_translated", "text_translated"]
        words = (rng.choice([d[f] for f in fields if d[f]] or ["war"])).split() or ["war"]
        w = rng.choice(words)
        kind = rng.random()
        if kind < 0.2:
            w = w.strip(".,:;!?()«»\"'")
        elif kind < 0.4:
            w = w[: rng.randint(1, max(1, len(w)))]  # a prefix (a stem)
        elif kind < 0.5:
            w = rng.choice(PLANTED)
        elif kind < 0.6:
            w = rng.choice(METACHARACTERS)
        elif kind < 0.65:
            w = "qzxvk" + str(rng.randint(0, 99))  # occurs nowhere
        case = rng.random()
        return (
            w.upper()
            if case < 0.2
            else w.lower()
            if case < 0.4
            else w.swapcase()
            if case < 0.5
            else w
        )

    words = " ".join(word() or "war" for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])))
    return words, one["lang"]


def check_keyword(db, docs, rejected, rng, langs) -> list[str]:
    problems = []
    for _ in range(40):
        query, its = random_query(rng, docs)
        lang = rng.choice([None, None, its, its, rng.choice(langs), "xx"])
        limit = rng.choice([1, 2, 3, 5, 10, 1000])
        args = ["search", "--format", "json", "--limit", str(limit)]
        args += ["--lang", lang.upper() if rng.random() < 0.3 else lang] if lang else []
        code, got, out = cli_json(db, *args, "--", *query.split())
        want = keyword_hits(docs, rejected, query, lang)
        STATS["keyword queries"] += 1
        STATS["keyword queries with hits"] += bool(want)
        STATS["keyword hits compared"] += min(limit, len(want))
        if lang == "xx":  # no document is in it: said so, as semantic search says it
            if code != 1 or "no documents in 'xx' in this database; languages: " not in out:
                problems.append(f"search {query!r} lang=xx: exit {code}: {out}")
            continue
        if code != 0:
            problems.append(f"search {query!r} lang={lang}: exit {code}: {out}")
            continue
        got_ids = [(h["doc_id"], h["score"]) for h in got]
        want_ids = [(d["doc_id"], n) for d, n in want[:limit]]
        if got_ids != want_ids:
            problems.append(f"search {query!r} lang={lang} limit={limit}: got {got_ids} "
                            f"want {want_ids}")  # fmt: skip
            continue
        for h, (d, _) in zip(got, want, strict=False):
            fields = {k: d[k] for k in ("lang", "source", "title", "title_translated", "url")}
            if {k: h[k] for k in fields} != fields or [h["rank"] for h in got] != list(
                range(1, len(got) + 1)
            ):
                problems.append(f"search {query!r}: row {h} against {fields}")
            when = d["published_at"].isoformat() if d["published_at"] else None
            if h["published_at"] != when:
                problems.append(f"search {query!r}: published_at {h['published_at']} != {when}")
    return problems


def check_dashboard(db, docs, rejected, rng) -> list[str]:
    from starlette.testclient import TestClient

    from dashboards.app import create_app

    problems = []
    row = re.compile(r'<tr><td class="n">(\d+)</td><td><a href="/documents/([^"]+)">')
    with TestClient(create_app(db), base_url="http://127.0.0.1") as client:
        for _ in range(6):
            query, _ = random_query(rng, docs)
            limit = rng.choice([1, 2, 3, 7])
            want = [
                (i, d["doc_id"])
                for i, (d, _) in enumerate(keyword_hits(docs, rejected, query, None), 1)
            ]
            shown, page = [], 1
            while True:
                r = client.get("/search", params={"q": query, "limit": limit, "page": page})
                if r.status_code != 200 or "Traceback" in r.text:
                    problems.append(f"dashboard {query!r}: {r.status_code}")
                    break
                shown += [(int(n), i) for n, i in row.findall(r.text)]
                STATS["dashboard pages"] += 1
                if 'rel="next"' not in r.text or page > 50:
                    break
                page += 1
            if shown != want[:1000]:
                problems.append(f"dashboard {query!r} limit={limit}: pages {shown} want {want}")
    return problems


def similarities(db, doc: str) -> dict:
    rows = sql(db, f"SELECT e.doc_id, doc_similarity('{doc}', e.doc_id) AS s, "
        f"anchor_overlap('{doc}', e.doc_id) AS a FROM embeddings e JOIN documents d "
        "ON d.doc_id = e.doc_id AND d.current_version = e.version WHERE NOT EXISTS (SELECT 1 "
        "FROM v_rejections r WHERE r.doc_id = d.doc_id AND r.version = d.current_version)")  # fmt: skip
    return {r["doc_id"]: (r["s"], r["a"]) for r in rows}


def check_similar(db, docs, rng, langs) -> list[str]:
    problems = []
    by_id = {d["doc_id"]: d for d in docs}
    vectors = similarities(db, docs[0]["doc_id"])
    embedded = [d["doc_id"] for d in docs if d["doc_id"] in vectors]
    for _ in range(3):
        doc = rng.choice(embedded)
        lang = rng.choice([None, None, *langs])
        limit = rng.choice([1, 3, 10, 60])
        args = ["similar", doc, "--format", "json", "--limit", str(limit)]
        code, got, out = cli_json(db, *args, *(["--lang", lang] if lang else []))
        found = similarities(db, doc)
        sims = {d: s for d, (s, _) in found.items()}
        want = similar_rows(sims, {d: a for d, (_, a) in found.items()},
                            {d: by_id[d]["lang"] for d in sims},
                            {d: by_id[d]["text"] for d in sims}, doc, lang, limit)  # fmt: skip
        if code != 0 and not (lang and not any(by_id[d]["lang"] == lang for d in sims)):
            problems.append(f"similar {doc} lang={lang}: exit {code}: {out}")
            continue
        if code != 0:
            continue
        pairs = [(h["doc_id"], h["exact_copies"]) for h in got]
        STATS["similar rows"] += len(pairs)
        STATS["similar rows folding copies"] += sum(n > 0 for _, n in pairs)
        if not ranked_alike([d for d, _ in pairs], [(d, score) for d, score, _, _ in want]):
            k = next(
                (i for i, (p, w) in enumerate(zip(pairs, want, strict=False)) if p != w[::3]), None
            )
            k = min(len(pairs), len(want)) if k is None else k
            problems.append(f"similar {doc} lang={lang} limit={limit}: {len(pairs)} rows, "
                            f"{len(want)} expected; from row {k + 1}: {got[k : k + 3]} "
                            f"!= {want[k : k + 3]}")  # fmt: skip
            continue
        expected = {d: (score, sim) for d, score, sim, _ in want}
        for h in got:
            score, sim = expected[h["doc_id"]]
            if abs(h["similarity"] - sim) > 6e-5 or abs(h["score"] - score) > 6e-5:
                problems.append(f"similar {doc}: {h['doc_id']} {h['score']}/{h['similarity']} "
                                f"!= {score}/{sim}")  # fmt: skip
    return problems


def check_semantic(db, docs, rng, langs) -> list[str]:
    from pipeline.config import load_config
    from pipeline.embed import EmbedStage

    stage = EmbedStage.from_settings(load_config(None)["embed"])
    by_id = {d["doc_id"]: d for d in docs}
    problems = []
    for _ in range(2):
        query = rng.choice(["sanctions cause hunger", "война и санкции", "北京会议", "zorvath",
                            "Waffenstillstand in Europa", random_query(rng, docs)[0]])  # fmt: skip
        query_lang = rng.choice(langs)
        lang = rng.choice([None, None, *langs])
        limit = rng.choice([1, 5, 100])
        args = ["search", "--semantic", "--format", "json", "--limit", str(limit),
                "--query-lang", query_lang, *(["--lang", lang] if lang else []), "--", query]  # fmt: skip
        code, got, out = cli_json(db, *args)
        if code != 0:
            problems.append(f"search --semantic {query!r}: exit {code}: {out}")
            continue
        q = stage.embedder.encode([query], query=True)[0].astype(np.float64)
        [means] = sql(db, f"SELECT language_mean('{stage.model_id}', '{stage.input}', 'lead', '{query_lang}') AS l, "
            f"language_mean('{stage.model_id}', '{stage.input}', 'text', '{query_lang}') AS t")  # fmt: skip
        unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
        qv = 0.5 * unit(q - np.array(means["l"])) + 0.5 * unit(q - np.array(means["t"]))
        rows = sql(db, f"SELECT e.doc_id, doc_embedding(e.doc_id, '{stage.model_id}') AS v FROM embeddings e "
            "JOIN documents d ON d.doc_id = e.doc_id AND d.current_version = e.version "
            "WHERE NOT EXISTS (SELECT 1 FROM v_rejections r WHERE r.doc_id = d.doc_id AND "
            "r.version = d.current_version)")  # fmt: skip
        sims = {r["doc_id"]: float(unit(np.array(r["v"])) @ unit(qv)) for r in rows}
        want = semantic_rows(sims, {d: by_id[d]["lang"] for d in sims},
                             {d: by_id[d]["copy_group_id"] for d in sims}, query_lang, lang, limit)  # fmt: skip
        ids = [h["doc_id"] for h in got]
        STATS["semantic rows"] += len(ids)
        STATS["semantic rows in a copy group"] += sum(bool(h["copy_group"]) for h in got)
        other = {d: by_id[d]["lang"] not in (None, query_lang) for d in sims}
        if not ranked_alike(ids, [(d, s, sims[d] + 0.2 * other[d]) for d, s, _ in want]):
            problems.append(
                f"search --semantic {query!r} ql={query_lang} lang={lang}: {ids} != {want}"
            )
            continue
        expected = {d: (score, sim) for d, score, sim in want}
        for h in got:
            d, (score, sim) = h["doc_id"], expected[h["doc_id"]]
            if abs(h["similarity"] - sim) > 6e-5 or abs(h["score"] - score) > 6e-5:
                problems.append(
                    f"semantic {query!r}: {d} {h['score']}/{h['similarity']} != {score}/{sim}"
                )
            if h["copy_group"] != by_id[d]["copy_group_id"]:
                problems.append(f"semantic {query!r}: {d} copy_group {h['copy_group']}")
    return problems


def check_bad_input(db, tmp_path, docs) -> list[str]:
    problems = []
    cases = [
        (["search", "--lang", "e n", "war"], 2), (["search", "--limit", "0", "war"], 2),
        (["search", "--limit", "-1", "war"], 2), (["search", "--limit", "1000001", "war"], 2),
        (["search", "  "], 2), (["search", ""], 2), (["search", *["war"] * 13], 2),
        (["search", "--limit", "1000000", *["war"] * 12], 0), (["similar", "nosuchdoc"], 1),
        (["similar", docs[0]["doc_id"], "--limit", "0"], 2),
        (["search", "--semantic", "--lang", "xx", "war"], 1), (["search", "--lang", "xx", "war"], 1),
        (["search", "x" * 5000], 0),
    ]  # fmt: skip
    empty = tmp_path / "empty.duckdb"
    import_jsonl(tmp_path, empty, [{"url": "https://e.example/1", "text": "A text. " * 40}])
    cases += [(["search", "--semantic", "war"], 1), (["similar", "https://e.example/1"], 1)]
    for args, expected in cases:
        where = empty if args in [c for c, _ in cases[-2:]] else db
        result = CliRunner().invoke(cli, ["--db", str(where), *args])
        if result.exit_code != expected or "Traceback" in result.output:
            problems.append(f"{args[:4]}: exit {result.exit_code}, want {expected}: "
                            f"{result.output[-300:]}")  # fmt: skip
        elif expected == 1 and not result.output.startswith("error: "):
            problems.append(f"{args[:4]}: {result.output!r}")
    return problems


@pytest.mark.parametrize("seed", range(SEEDS))
def test_search_finds_what_the_readme_says(demo_run, tmp_path, seed):
    rng = random.Random(seed)
    db = build(demo_run[0], tmp_path, rng)
    docs, rejected = read_store(db)
    assert rejected, "the planted not-news page was not rejected"
    langs = sorted({d["lang"] for d in docs if d["lang"]})
    problems = check_keyword(db, docs, rejected, rng, langs)
    problems += check_dashboard(db, docs, rejected, rng)
    problems += check_similar(db, docs, rng, langs)
    problems += check_semantic(db, docs, rng, langs)
    problems += check_bad_input(db, tmp_path, docs)
    print(f"seed {seed}:", dict(STATS))
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:20])
