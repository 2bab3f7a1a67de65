"""`narrascope demo` end to end: serve, crawl, process and summarise, offline."""

import json
import re
import shlex

import pytest

from crawlers.demo.server import load_articles
from storage import connect
from tests.conftest import run_cli

NARRATIVE = {a["slug"]: a["narrative"] for a in load_articles()}
# the demo channel's posts (crawlers/demo): greetings and digests, and one teaser of an article
NARRATIVE |= {"101": "filler", "102": "filler", "103": "ceasefire-obstacle", "104": "filler"}


def narrative_of(url: str) -> str:
    slug = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
    return NARRATIVE[slug]


def test_demo_end_to_end(demo_run):
    db, proc = demo_run
    # 46 articles on three sites and four posts of a channel, one source per kind of entry
    assert "crawled 4 demo sources: 50 documents, 0 rejected" in proc.stdout
    assert (
        "demo-wp (wordpress), demo-mirror (sitemaps), demo-blog (links), demo-channel (telegram)"
        in proc.stdout
    )
    assert "Next, try:" in proc.stdout
    heading = re.search(r"narratives with more than one document \((\d+) largest of (\d+)\):\n",
                        proc.stdout)  # fmt: skip
    assert heading and heading[1] == "5" and int(heading[2]) >= 5  # the heading says it is cut
    listed = proc.stdout[heading.end() :].split("\n\n")[0]
    assert len(listed.splitlines()) == 5  # the five planted narratives
    assert "The Ceasefire Nobody in Brussels Wants" in listed
    with connect(db, read_only=True) as con:
        langs = dict(con.execute("SELECT lang, count(*) FROM v_documents GROUP BY 1").fetchall())
        oped = con.execute(
            "SELECT text, lang FROM v_documents WHERE source = 'demo-wp' AND lang = 'en'"
        ).fetchall()
        cp1251 = con.execute(
            "SELECT text FROM v_documents WHERE title = 'Перемирие, которого не хочет Брюссель'"
        ).fetchone()
        encodings = {
            e for (e,) in con.execute("SELECT DISTINCT encoding FROM document_versions").fetchall()
        }
    assert sum(langs.values()) == 50
    assert {"ru", "uk", "de", "en"} <= set(langs)
    assert len(oped) == 1
    text = oped[0][0]
    assert text.rstrip().endswith("showing how the talks could unfold?")
    assert "Добавить комментарий" not in text and "Ваш адрес email" not in text
    assert "Каждую неделю звучат новые разговоры" in cp1251[0]
    assert "cp1251" in encodings
    # nothing left to do, and status says so
    again = run_cli("process", "--no-progress", db=db).stdout
    assert "extract v2: 0 done" in again
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert status["documents"] == 50 and status["backlog"] == {
        "extract": 0,
        "langid": 0,
        "signals": 0,
        "translate": 0,
        "embed": 0,
        "dedup": 0,
        "cluster": 0,
    }
    # JSON as the README's output formats write it: a run's summary an object, not a string
    # holding one, and its date in ISO 8601
    run = status["last_runs"][0]
    assert run["summary"]["extract"]["done"] == 0 and "T" in run["started_at"]
    [demo_wp] = [s for s in json.loads(run_cli("sources", "list", "--format", "json", db=db).stdout)
                 if s["name"] == "demo-wp"]  # fmt: skip
    assert demo_wp["health"]["errors"] == {} and "T" in demo_wp["health"]["recorded_at"]


def test_demo_sources_use_every_kind_of_entry_point(demo_run):
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        by_source = dict(
            con.execute("SELECT source, count(*) FROM v_documents GROUP BY 1").fetchall()
        )
        wp = con.execute(
            "SELECT count(*), count(DISTINCT m.author), list(DISTINCT c) FROM page_meta m "
            "JOIN v_documents d USING (doc_id), unnest(m.categories) AS t(c) "
            "WHERE d.source = 'demo-wp'"
        ).fetchone()
        post = con.execute(
            "SELECT d.text, m.meta FROM v_documents d JOIN page_meta m USING (doc_id) "
            "WHERE d.url = 'https://t.me/narrascope_demo/103'"
        ).fetchone()
        archived = con.execute("SELECT count(*) FROM page_meta WHERE warc_file IS NOT NULL")
        archived = archived.fetchone()[0]
        # analysts group documents by their source's tags
        by_network = con.execute(
            "SELECT s.tags['network'], count(*) FROM v_documents d JOIN sources s "
            "ON s.name = d.source GROUP BY 1"
        ).fetchall()
        kinds = dict(con.execute("SELECT name, entry_points FROM sources").fetchall())
    assert by_source == {"demo-wp": 13, "demo-mirror": 18, "demo-blog": 15, "demo-channel": 4}
    assert wp[0] == 13 and wp[1] >= 1 and wp[2] == ["Analytics"]  # authors, categories
    text, meta = post[0], json.loads(post[1])
    assert text.startswith("Перемирие, которого не хочет Брюссель")
    assert meta["views"] == 18000 and meta["links"][0].endswith(
        "/news/peremirie-kotorogo-ne-hochet-bryussel.html"
    )
    assert archived == 50  # every stored page points at its WARC record
    assert by_network == [("demo", 50)]
    assert kinds == {"demo-wp": ["wordpress"], "demo-mirror": ["sitemaps"],
                     "demo-blog": ["links"], "demo-channel": ["telegram"]}  # fmt: skip


def test_demo_never_deletes_a_database_holding_other_sources(tmp_path):
    db = tmp_path / "ops.duckdb"
    src = tmp_path / "a.jsonl"
    src.write_text(
        json.dumps({"url": "https://ops.example/1", "text": "x", "source": "ops"}) + "\n"
    )
    run_cli("import", str(src), db=db)
    proc = run_cli("demo", "--db", str(db), cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "holds documents of other sources (ops)" in proc.stderr
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1


def search(db, *args, check=True):
    proc = run_cli("search", *args, "--format", "json", db=db, check=check)
    return json.loads(proc.stdout) if check else proc


def test_keyword_search(demo_run):
    db, _ = demo_run
    hits = search(db, "санкции")
    assert hits and [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert narrative_of(hits[0]["url"]) == "sanctions-hunger"
    assert all("санкц" in (h["snippet"] or "").lower() for h in hits)
    german = search(db, "Sanktionen", "--lang", "de")
    assert german and {h["lang"] for h in german} == {"de"}
    assert search(db, "санкции", "zzzyxq") == []  # every word must occur
    table = run_cli("search", "Brussels", "--limit", "2", db=db).stdout
    assert "(2 rows)" in table


def test_search_help_examples_find_demo_documents(demo_run):
    """A user's first try is the help's example: on the demo's store each one finds
    documents (offline, where the translations come from the tiny test packages)."""
    db, _ = demo_run
    text = run_cli("search", "--help").stdout
    examples = [
        shlex.split(m[1])
        for m in re.finditer(r"^ *(?:Examples:)? *narrascope search (.+)$", text, re.M)
    ]
    assert len(examples) == 2
    for args in examples:
        assert search(db, *args), args


def test_semantic_search_crosses_languages(demo_run):
    db, _ = demo_run
    hunger = search(
        db, "--semantic", "Western sanctions, not the war, left Africa hungry", "--lang", "ru"
    )
    assert {h["lang"] for h in hunger} == {"ru"}
    assert narrative_of(hunger[0]["url"]) == "sanctions-hunger"
    labs = search(
        db,
        "--semantic",
        "secret US military biological laboratories",
        "--lang",
        "uk",
        "--limit",
        "1",
    )
    assert len(labs) == 1 and narrative_of(labs[0]["url"]) == "biolabs"
    assert 0 < labs[0]["similarity"] <= 1


# One plain English question per planted narrative, worded apart from every title.
QUERIES = {
    "sanctions-hunger": "sanctions cause hunger",
    "ceasefire-obstacle": "Brussels does not want peace talks",
    "biolabs": "American biological weapons labs in Ukraine",
    "deindustrialisation": "German factories close and industry leaves the country",
    "baltic-russian-speakers": "Russian speakers pushed out in Latvia and Estonia",
}


def language_versions(narrative: str) -> set[str]:
    """Slugs of a planted story's original and its translations (its language versions)."""
    articles = [a for a in load_articles() if a["narrative"] == narrative]
    origins = {a.get("translation_of") for a in articles} - {None}
    return {a["slug"] for a in articles if a["slug"] in origins or a.get("translation_of")}


@pytest.mark.parametrize("narrative", sorted(QUERIES))
def test_english_query_finds_every_language_version_first(demo_run, narrative):
    """Language bias removed: each language version of the story ranks above every piece
    of another narrative, whatever its language."""
    db, _ = demo_run
    hits = search(db, "--semantic", QUERIES[narrative], "--limit", "50")
    slugs = [h["url"].rstrip("/").rsplit("/", 1)[-1].removesuffix(".html") for h in hits]
    wanted = language_versions(narrative)
    assert len(wanted) >= 3 and wanted <= set(slugs)
    last_wanted = max(slugs.index(s) for s in wanted)
    unrelated = [s for s in slugs[:last_wanted] if NARRATIVE[s] != narrative]
    assert not unrelated, (QUERIES[narrative], slugs[: last_wanted + 1])


def test_semantic_search_ranks_a_copy_with_its_copy_group(demo_run):
    """A republished or translated copy follows its copy group's best hit: the Russian near
    copy of the sanctions piece (another title, a shorter text) ranked below unrelated pieces
    by its own similarity."""
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        near, group = con.execute(
            "SELECT doc_id, group_id FROM v_copies WHERE copy_kind = 'near' AND group_id IN ("
            "SELECT group_id FROM v_copies WHERE url LIKE '%/sankcii-i-golod-v-afrike%')"
        ).fetchone()
        members = {d for (d,) in con.execute(
            "SELECT doc_id FROM copy_members WHERE group_id = ?", [group]
        ).fetchall()}  # fmt: skip
    hits = search(db, "--semantic", QUERIES["sanctions-hunger"], "--limit", "50")
    ids = [h["doc_id"] for h in hits]
    first_unrelated = min(
        i for i, h in enumerate(hits) if narrative_of(h["url"]) != "sanctions-hunger"
    )
    assert members <= set(ids[:first_unrelated]), ids[: first_unrelated + 1]
    assert {h["copy_group"] for h in hits if h["doc_id"] in members} == {group}
    assert hits[ids.index(near)]["similarity"] < hits[first_unrelated]["similarity"]
    # scores fall; a group's members sit together, each scored as the group's best hit
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    seen = [h["copy_group"] or h["doc_id"] for h in hits]
    assert all(g not in seen[:i] or seen[i - 1] == g for i, g in enumerate(seen)), seen
    for g in {h["copy_group"] for h in hits} - {None}:
        scores = {h["score"] for h in hits if h["copy_group"] == g}
        assert len(scores) == 1


def test_similar_finds_translations_in_every_language(demo_run):
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        doc_id, url = con.execute(
            "SELECT doc_id, url FROM v_documents WHERE url LIKE '%/sankcii-i-golod-v-afrike%' "
            "ORDER BY doc_id LIMIT 1"
        ).fetchone()
        versions = language_versions("sanctions-hunger")
        expected = {
            row[0]
            for row in con.execute("SELECT doc_id, url FROM v_documents").fetchall()
            if row[1].rstrip("/").rsplit("/", 1)[-1].removesuffix(".html") in versions
        } - {doc_id}
        sql_scores = dict(
            con.execute(
                "SELECT b.doc_id, doc_similarity(?, b.doc_id) FROM v_documents b "
                "WHERE b.doc_id <> ?",
                [doc_id, doc_id],
            ).fetchall()
        )
    hits = json.loads(run_cli("similar", doc_id, "--limit", "10", "--format", "json", db=db).stdout)
    top = [h["doc_id"] for h in hits]
    assert doc_id not in top
    assert {h["lang"] for h in hits if h["doc_id"] in expected} >= {"en", "de"}
    assert expected <= set(top)
    last = max(top.index(d) for d in expected)
    assert all(narrative_of(h["url"]) == "sanctions-hunger" for h in hits[: last + 1])
    # `similar` and the SQL macros give the same numbers: the similarity, and the score that
    # adds the names and numbers the two share
    with connect(db, read_only=True) as con:
        overlap = {
            h["doc_id"]: con.execute(
                "SELECT anchor_overlap(?, ?)", [doc_id, h["doc_id"]]
            ).fetchone()[0]
            for h in hits
        }
    for h in hits:
        assert h["similarity"] == pytest.approx(sql_scores[h["doc_id"]], abs=1e-3)
        assert h["score"] == pytest.approx(h["similarity"] + 0.4 * overlap[h["doc_id"]], abs=1e-3)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    # the English version names what the Russian original names, in Latin letters
    english = next(h for h in hits if h["doc_id"] in expected and h["lang"] == "en")
    assert overlap[english["doc_id"]] > 0
    by_url = json.loads(run_cli("similar", url, "--limit", "3", "--format", "json", db=db).stdout)
    assert [h["doc_id"] for h in by_url] == top[:3]
    only_de = json.loads(
        run_cli("similar", doc_id, "--lang", "de", "--format", "json", db=db).stdout
    )
    assert only_de and {h["lang"] for h in only_de} == {"de"}
    missing = run_cli("similar", "no-such-doc", db=db, check=False)
    assert missing.returncode == 1 and "no document 'no-such-doc'" in missing.stderr


def test_similar_leaves_out_exact_copies_unless_asked(demo_run):
    """A republished copy with the very same text is the query again, not more like it:
    `copies` lists it; `similar --with-copies` shows it."""
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        origin, copy = con.execute(
            "SELECT copy_of, doc_id FROM v_copies c WHERE copy_kind = 'exact' AND EXISTS ("
            "SELECT 1 FROM v_copies n WHERE n.group_id = c.group_id AND n.copy_kind = 'near') "
            "ORDER BY doc_id LIMIT 1"
        ).fetchone()
    for query, other in ((origin, copy), (copy, origin)):
        plain = json.loads(run_cli("similar", query, "--format", "json", db=db).stdout)
        assert plain and other not in {h["doc_id"] for h in plain}
        full = json.loads(
            run_cli("similar", query, "--with-copies", "--format", "json", db=db).stdout
        )
        assert full[0]["doc_id"] == other and full[0]["similarity"] == pytest.approx(1, abs=1e-3)
        assert full[0]["exact_copies"] == 0  # its only other copy is the query itself
    # a hit that has an exact copy is one row, its copy counted: here the query is an edited
    # copy in the same group, and the origin and its exact copy carry one text
    with connect(db, read_only=True) as con:
        (near,) = con.execute(
            "SELECT doc_id FROM v_copies WHERE copy_kind = 'near' AND group_id = "
            "(SELECT group_id FROM v_copies WHERE doc_id = ?)",
            [copy],
        ).fetchone()
    hits = json.loads(run_cli("similar", near, "--format", "json", db=db).stdout)
    folded = [h for h in hits if h["doc_id"] in (origin, copy)]
    assert len(folded) == 1 and folded[0]["exact_copies"] == 1 and hits[0] == folded[0]
    full = json.loads(run_cli("similar", near, "--with-copies", "--format", "json", db=db).stdout)
    assert {h["doc_id"] for h in full[:2]} == {origin, copy}
    assert [h["exact_copies"] for h in full[:2]] == [1, 1]  # each listed, each the other's copy


def test_similar_leaves_out_a_repost_of_an_edited_copy(demo_run, tmp_path):
    """The demo's edited (near) copy of the ceasefire piece, reposted word for word at another
    address: `similar` of the edited copy listed the repost first (similarity 1.0, its very
    text), and `similar` of the origin showed the two as separate rows, because only a copy
    of the group's origin counted as an exact copy."""
    import shutil

    from tests.conftest import import_jsonl

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_run[0], db)
    with connect(db, read_only=True) as con:
        near, origin, title, text, published = con.execute(
            "SELECT c.doc_id, c.copy_of, d.title, d.text, d.published_at FROM v_copies c "
            "JOIN v_documents d USING (doc_id) WHERE c.copy_kind = 'near' ORDER BY c.doc_id"
        ).fetchone()
    repost = {"url": "https://reposts.example/a", "title": title, "text": text,
              "published_at": published.isoformat()}  # fmt: skip
    import_jsonl(tmp_path, db, [repost])
    run_cli("process", "--no-progress", db=db)

    def similar(doc, *args):
        proc = run_cli("similar", doc, "--limit", "10", "--format", "json", *args, db=db)
        return {h["url"]: h for h in json.loads(proc.stdout)}

    assert repost["url"] not in similar(near)
    hits = similar(origin).values()
    pair = [h for h in hits if h["doc_id"] == near or h["url"] == repost["url"]]
    assert len(pair) == 1 and pair[0]["exact_copies"] == 1  # one row, the other counted
    full = similar(near, "--with-copies")
    assert full[repost["url"]]["similarity"] == pytest.approx(1, abs=1e-3)


def test_semantic_search_never_mixes_models(demo_run, tmp_path):
    db, _ = demo_run
    config = tmp_path / "narrascope.toml"
    config.write_text('[embed]\nmodel = "minilm"\n')
    proc = run_cli("--config", str(config), "search", "--semantic", "sanctions", db=db, check=False)
    assert proc.returncode == 1
    assert "no documents embedded with sentence-transformers/all-MiniLM-L6-v2" in proc.stderr
    assert "multilingual-e5-small-q4:query (original): 50" in proc.stderr


def planted(demo_db):
    """Demo articles keyed by slug, with the doc_id and copy/narrative columns stored for each."""
    with connect(demo_db, read_only=True) as con:
        rows = con.execute(
            "SELECT url, doc_id, copy_group_id, copy_of, copy_kind, narrative_id FROM v_documents"
        ).fetchall()
    by_slug = {}
    for url, doc_id, group, copy_of, kind, narrative in rows:
        slug = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
        by_slug[slug] = {
            "doc_id": doc_id,
            "group": group,
            "copy_of": copy_of,
            "kind": kind,
            "narrative": narrative,
        }
    return by_slug


def test_every_planted_copy_is_found_with_its_origin_and_kind(demo_run):
    db, proc = demo_run
    got = planted(db)
    articles = {a["slug"]: a for a in load_articles()}
    expected_kind = {"verbatim": "exact", "edited": "near"}
    copies = 0
    for slug, a in articles.items():
        source = a.get("copy_of") or a.get("translation_of")
        if source is None:
            continue
        copies += 1
        want = "translated" if "translation_of" in a else expected_kind[a["copy_kind"]]
        # the origin of a copy of a translation is the original the translation came from
        origin = articles[source].get("translation_of") or articles[source].get("copy_of") or source
        assert got[slug]["kind"] == want, slug
        assert got[slug]["copy_of"] == got[origin]["doc_id"], slug
        assert got[origin]["kind"] == "origin", origin
    assert copies >= 15
    # precision: nothing else is called a copy
    in_family = {s for s, a in articles.items() if "copy_of" in a or "translation_of" in a} | {
        a.get("copy_of") or a.get("translation_of") for a in articles.values()
    }
    stray = [s for s, row in got.items() if row["group"] is not None and s not in in_family]
    assert stray == []
    assert "exact copies of earlier documents" in proc.stdout
    with connect(db, read_only=True) as con:
        delays = con.execute(
            "SELECT min(delay), max(delay) FROM v_copies WHERE copy_kind <> 'origin'"
        ).fetchone()
        # other tests run `process` again on this database: those runs find no copies
        found = con.execute("SELECT sum(copies_found) FROM v_runs").fetchone()[0]
        linked = con.execute("SELECT count(DISTINCT doc_id) FROM copy_links").fetchone()[0]
        ends = {d for pair in con.execute("SELECT doc_id, other_doc_id FROM copy_links").fetchall()
                for d in pair}  # fmt: skip
    assert delays[0].total_seconds() > 0  # copies come after their origin
    # the runs' count is of documents: one that copies two earlier ones counts once
    assert found == linked
    # a link points from the document handled later, so a copy crawled before its origin is
    # the link's other end (and an origin crawled after two of its copies counts once)
    assert all(got[s]["doc_id"] in ends for s, a in articles.items() if a.get("copy_of")
               or a.get("translation_of"))  # fmt: skip


def test_every_planted_narrative_is_one_narrative(demo_run):
    db, _ = demo_run
    got = planted(db)
    by_narrative: dict[str, set] = {}
    for a in load_articles():
        by_narrative.setdefault(a["narrative"], set()).add(got[a["slug"]]["narrative"])
    planted_ids = {k: v for k, v in by_narrative.items() if k != "filler"}
    assert all(len(ids) == 1 for ids in planted_ids.values()), planted_ids  # no splits
    flat = [next(iter(ids)) for ids in planted_ids.values()]
    assert len(set(flat)) == len(flat)  # no two planted narratives merged
    assert not (by_narrative["filler"] & set(flat))  # no filler joins a planted narrative
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT narrative_id, documents, independent_sites, sites, languages, keywords, "
            "representative_title FROM v_narratives"
        ).fetchall()
    stats = {r[0]: r[1:] for r in rows}
    ceasefire = stats[next(iter(planted_ids["ceasefire-obstacle"]))]
    documents, independent_sites, sites, languages, keywords, title = ceasefire
    # six articles on two sites, and the channel's teaser of the Russian one (post 103)
    assert (documents, sites, languages) == (7, 3, 4)
    assert independent_sites == 2  # the mirror only republishes: copies count once
    assert "ceasefire" in keywords
    assert title == "The Ceasefire Nobody in Brussels Wants"


def test_a_new_cluster_version_reclusters_once_and_keeps_ids(demo_run, tmp_path):
    """A database clustered by an earlier cluster stage is re-clustered in one pass on the
    next `process` (as `cluster --rebuild`), not assigned a second time on top."""
    import shutil

    db, _ = demo_run
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)

    def members(path):
        with connect(path, read_only=True) as con:
            rows = con.execute("SELECT doc_id, narrative_id FROM narrative_members").fetchall()
            sizes = con.execute("SELECT sum(size) FROM narratives").fetchone()[0]
        groups: dict = {}
        for doc_id, narrative_id in rows:
            groups.setdefault(narrative_id, set()).add(doc_id)
        return groups, len(rows), sizes

    before, n, _ = members(old)
    with connect(old) as con:
        con.execute("UPDATE stage_state SET stage_version = '1' WHERE stage = 'cluster'")
    proc = run_cli("process", "--no-progress", db=old)
    assert f"cluster: {n} documents were clustered by an earlier version" in proc.stdout
    after, m, sizes = members(old)
    assert m == n and sizes == n  # every document counted once
    assert after == before  # the same narratives under the same ids
    again = run_cli("process", "--no-progress", db=old)
    assert "earlier version" not in again.stdout


def test_an_upgraded_store_with_a_changed_page_is_reclustered_once(demo_run, tmp_path):
    """A store whose cluster stage is of an earlier version, where a page has a second version
    (any store crawled twice), is re-clustered on the next `process` and not on every one
    after: the earlier version's old cluster state counts for nothing."""
    import shutil

    db, _ = demo_run
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    with connect(old, read_only=True) as con:
        url, text = con.execute(
            "SELECT url, text FROM v_documents WHERE source = 'demo-blog' ORDER BY url LIMIT 1"
        ).fetchone()
    src = tmp_path / "changed.jsonl"
    src.write_text(json.dumps({"url": url, "text": text + "\n\nUpdated on Friday."}) + "\n")
    run_cli("import", str(src), db=old)
    with connect(old) as con:  # as an older narrascope left it: clustered by its cluster stage
        con.execute("UPDATE stage_state SET stage_version = '1' WHERE stage = 'cluster'")
    first = run_cli("process", "--no-progress", db=old)
    assert "clustered by an earlier version" in first.stdout
    again = run_cli("process", "--no-progress", db=old)
    assert "earlier version" not in again.stdout  # was: every process re-clustered everything


def test_an_export_after_the_upgrade_reclustering_names_the_cluster_settings(demo_run, tmp_path):
    """The narratives `process` re-clusters after an upgrade are the work of that process run:
    an export's manifest names the run and the cluster thresholds it used, as it does for
    narratives the cluster stage or `cluster --rebuild` built."""
    import shutil

    db, _ = demo_run
    old = tmp_path / "old.duckdb"
    shutil.copy(db, old)
    with connect(old) as con:  # as an older narrascope left it: clustered by its cluster stage
        con.execute("UPDATE stage_state SET stage_version = '1' WHERE stage = 'cluster'")
    assert "clustered by an earlier version" in run_cli("process", "--no-progress", db=old).stdout
    out = tmp_path / "export"
    run_cli("export", "narratives", "--out", str(out), "--format", "jsonl", db=old)
    manifest = json.loads((out / "manifest.json").read_text())
    [cluster] = [s for s in manifest["stages"] if s["stage"] == "cluster"]
    assert cluster["runs"] and cluster["settings"]  # were [] and []: no run, no settings
    assert manifest["thresholds"]["cluster"][0]["threshold"] > 0  # was no "cluster" at all


def test_planted_machine_written_pieces_are_flagged_and_near_misses_are_not(demo_run):
    """Leftovers in four languages (the op-ed's offer and its copies, a Russian offer, a
    German placeholder, a Ukrainian preamble) are decided machine-written by their rule; an
    article quoting a chatbot and a newsletter prompt are not; nor is anything else."""
    db, _ = demo_run
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT url, signals, machine_written FROM v_documents").fetchall()
        share = con.execute(
            "SELECT source, sum(documents), sum(machine_written) FROM v_signal_share "
            "GROUP BY 1 ORDER BY 1"
        ).fetchall()
    got = {narrative_slug(url): (signals, decided) for url, signals, decided in rows}
    expected = {}
    for a in load_articles():
        rule = "offer-en" if a.get("chatbot_tail") else a.get("signal")
        expected[a["slug"]] = ([rule], True) if rule and rule != "near-miss" else ([], False)
    near = [a["slug"] for a in load_articles() if a.get("signal") == "near-miss"]
    assert len(near) == 2 and all(got[s][1] is False for s in near)
    assert {s: got[s] for s in expected if s not in near} == {
        s: e for s, e in expected.items() if s not in near
    }
    assert sum(decided for _, decided in got.values()) == 6
    assert share == [("demo-blog", 15, 0), ("demo-channel", 4, 0), ("demo-mirror", 18, 4),
                     ("demo-wp", 13, 2)]  # fmt: skip


def narrative_slug(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
