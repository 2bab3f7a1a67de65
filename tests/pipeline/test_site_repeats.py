"""A short text that one site serves at three addresses or more is that site's boilerplate: the
dedup stage rejects it as not news, whatever its wording, with the addresses before it, so it
forms no copy group and no narrative, and semantic search leaves it out."""

from __future__ import annotations

from pipeline.runner import run_stages
from pipeline.sites import site_of
from pipeline.stages import build_stages
from storage import connect
from storage.urls import canonical_url
from tests.conftest import import_jsonl, run_cli
from tests.pipeline.test_dedup import ARTICLE, UNRELATED

# a site's header, scraped in place of its articles: wording no not-news rule knows
HEADER = (
    "Regional Voice is an independent weekly founded in 1998 by a group of teachers and farmers "
    "from the valley. We cover the council, the schools, the markets and the river, and we "
    "publish letters from readers every Friday."
)
BRIEF = "The northern bridge reopens on Monday after six months of repairs, the council said."
POST = "Power cuts hit three districts of the city overnight; crews expect supply back by noon."
# a site's newsletter box, and the header reworded (no copy of it: Jaccard 0.24)
NEWSLETTER = ("Subscribe to the Morning Ledger newsletter for local headlines, weather and sports "
              "scores delivered to your inbox every day at six.")  # fmt: skip
REWORDED = ("Regional Voice is an independent paper founded in 1997 by a group of farmers and "
            "teachers from the valley. We cover the schools, the council, the river and the "
            "markets, and we publish letters from readers each Friday.")  # fmt: skip
SETTINGS = {"dedup": {"translated": False}, "cluster": {"vectors": "words"}}
STAGES = ["extract", "langid", "dedup", "cluster"]


def page(url: str, text: str, title: str = "") -> dict:
    return {"url": url, "title": title or url.rsplit("/", 1)[-1], "text": text, "source": "s"}


def process(db, settings=SETTINGS, stages=STAGES):
    return run_stages(db, build_stages(stages, settings), batch_size=4)


def rejected(db) -> dict[str, str]:
    with connect(db, read_only=True) as con:
        rows = con.execute("SELECT url, detail FROM v_rejections WHERE stage = 'dedup'").fetchall()
    return dict(rows)


def grouped(db) -> tuple[list[set[str]], list[set[str]]]:
    """Copy groups and narratives, as sets of URLs."""
    out = []
    with connect(db, read_only=True) as con:
        for table, key in (("copy_members", "group_id"), ("narrative_members", "narrative_id")):
            rows = con.execute(
                f"SELECT m.{key}, d.canonical_url FROM {table} m JOIN documents d USING (doc_id)"
            ).fetchall()
            groups: dict = {}
            for group, url in rows:
                groups.setdefault(group, set()).add(url)
            out.append(sorted(groups.values(), key=sorted))
    return out[0], out[1]


def test_the_third_address_serving_a_text_rejects_it_with_those_before(tmp_path):
    db = tmp_path / "n.duckdb"
    a = [f"https://a.example/news/{i}" for i in range(1, 5)]
    other = "https://www.b.example/about"  # the same text on another site: a copy, not its own
    import_jsonl(tmp_path, db, [page(a[0], HEADER), page(a[1], HEADER), page(other, HEADER),
                                page("https://a.example/story", ARTICLE)], "1.jsonl")  # fmt: skip
    process(db)
    copies, narratives = grouped(db)
    assert copies == [{a[0], a[1], other}] and {a[0], a[1], other} in narratives
    assert rejected(db) == {}  # two addresses: a page and its copy, perhaps

    import_jsonl(tmp_path, db, [page(a[2], HEADER)], "2.jsonl")
    report = process(db)
    dedup = report.stages[2]
    assert (dedup.done, dedup.rejected) == (0, 3)
    assert dedup.counters == {"rejected_not_news": 3, "withdrawn_from_later_stages": 2}
    why = "boilerplate: rule site-repeat; the same 38-word text at 3 addresses of a.example"
    assert rejected(db) == {a[0]: why, a[1]: why, a[2]: why}
    copies, narratives = grouped(db)
    assert copies == []  # the other site's page is left with no copy
    assert {other} in narratives and {"https://a.example/story"} in narratives
    assert not any(set(a) & n for n in narratives)

    import_jsonl(tmp_path, db, [page(a[3], HEADER)], "3.jsonl")
    process(db)
    assert rejected(db)[a[3]] == why.replace("at 3 addresses", "at 4 addresses")
    # `similar` says why the page takes part in no search
    proc = run_cli("similar", a[0], db=db, check=False)
    assert proc.returncode == 1
    assert "is left out: the dedup stage rejected it (not_news: boilerplate: rule site-repeat" in (
        proc.stderr
    )


def test_copies_across_sites_long_texts_and_channels_are_not_boilerplate(tmp_path):
    db = tmp_path / "n.duckdb"
    long_text = ARTICLE + " " + UNRELATED  # over 160 words
    docs = [
        page("https://c.example/brief/1", BRIEF), page("https://c.example/brief/2", BRIEF),
        *(page(f"https://d.example/long/{i}", long_text) for i in range(3)),
        # one post in three channels: forwards, which share t.me as their host
        *(page(f"https://t.me/channel{i}/5", POST) for i in range(3)),
        # and one post repeated in a channel of its own
        *(page(f"https://t.me/ads/{i}", HEADER) for i in range(3)),
        # one page at three URLs: http and https, and a parameter the canonical form keeps
        page("http://e.example/n/1", HEADER), page("https://e.example/n/1", HEADER),
        page("https://e.example/n/1?from=feed", HEADER),
    ]  # fmt: skip
    import_jsonl(tmp_path, db, docs)
    process(db)
    assert set(rejected(db)) == {f"https://t.me/ads/{i}" for i in range(3)}
    copies, _ = grouped(db)
    assert {f"https://d.example/long/{i}" for i in range(3)} in copies
    assert {"https://c.example/brief/1", "https://c.example/brief/2"} in copies
    assert {"http://e.example/n/1", "https://e.example/n/1",
            "https://e.example/n/1?from=feed"} in copies  # fmt: skip
    assert {f"https://t.me/channel{i}/5" for i in range(3)} in copies


def test_the_rule_can_be_turned_off(tmp_path):
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [page(f"https://a.example/{i}", HEADER) for i in range(3)])
    process(db, {**SETTINGS, "dedup": {"translated": False, "repeat_addresses": 0}})
    assert rejected(db) == {}
    assert len(grouped(db)[0][0]) == 3


def test_the_site_is_the_host_or_the_account_on_a_platform():
    assert site_of("https://www.Example.org/a/b?c=1") == "example.org"
    assert site_of("https://news.example.org/x") == "news.example.org"
    assert site_of("https://новости.example/a") == "xn--b1amnebsh.example"  # as stored
    assert site_of("https://t.me/SomeChannel/123") == "t.me/somechannel"
    assert site_of("https://t.me/s/somechannel?before=5") == "t.me/somechannel"
    assert site_of("https://t.me/c/12345/67") == "t.me/c/12345"
    assert site_of("https://x.com/account1/status/5") == "x.com/account1"
    assert site_of("https://m.facebook.com/page0/posts/1") == "facebook.com/page0"


def test_a_post_on_three_accounts_of_a_platform_is_a_copy_and_idn_hosts_count(tmp_path):
    """X and Facebook accounts share a host as Telegram channels do; an IDN host is counted
    across batches (the batch's URL as fetched, the stored one in IDNA)."""
    db = tmp_path / "n.duckdb"
    posts = [page(f"https://x.com/account{i}/status/{i}", POST) for i in range(3)]
    posts += [page(f"https://www.facebook.com/page{i}/posts/1", BRIEF) for i in range(3)]
    idn = [f"https://новости.example/news/{i}" for i in range(3)]
    import_jsonl(tmp_path, db, [*posts, page(idn[0], HEADER), page(idn[1], HEADER)], "1.jsonl")
    process(db)
    import_jsonl(tmp_path, db, [page(idn[2], HEADER)], "2.jsonl")
    process(db)
    assert {canonical_url(u) for u in rejected(db)} == {canonical_url(u) for u in idn}
    copies, _ = grouped(db)
    assert {p["url"] for p in posts[:3]} in copies and {p["url"] for p in posts[3:]} in copies


def test_a_rebuild_leaves_the_rejected_out_of_narratives(tmp_path):
    """`cluster --rebuild` (and a cluster stage version's upgrade) takes what the stage would:
    not the versions the dedup stage rejected, whose vectors stay."""
    from pipeline.rebuild import rebuild

    db = tmp_path / "n.duckdb"
    a = [f"https://a.example/news/{i}" for i in range(3)]
    import_jsonl(tmp_path, db, [*(page(u, HEADER) for u in a),
                                page("https://a.example/story", ARTICLE)])  # fmt: skip
    process(db)
    assert set(rejected(db)) == set(a)
    rebuild(db, SETTINGS["cluster"])
    _, narratives = grouped(db)
    assert narratives == [{"https://a.example/story"}]
    with connect(db, read_only=True) as con:
        [(clustered,)] = con.execute(
            "SELECT count(*) FROM stage_state WHERE stage = 'cluster'"
        ).fetchall()
    assert clustered == 1


def test_a_narrative_left_by_repeats_is_dated_by_the_versions_it_holds(tmp_path):
    """The addresses withdrawn as a site's boilerplate leave a narrative whose other member
    changed into a challenge page since (rejected: the member stays the page it was). The
    narrative is counted again from the version it holds, not the stub's date: a story two
    months after its last document starts a narrative of its own ("within 30 days")."""
    from tests.pipeline.test_copies_random import STUB

    def dated(url: str, text: str, day: str, title: str = "Regional Voice") -> dict:
        return {**page(url, text, title), "published_at": f"2026-{day}T00:00:00Z"}

    db = tmp_path / "n.duckdb"
    a = [f"https://a.example/news/{i}" for i in range(1, 4)]
    y = "https://b.example/y"
    import_jsonl(tmp_path, db, [dated(a[0], HEADER, "01-01"), dated(a[1], HEADER, "01-02"),
                                dated(y, HEADER, "01-03")], "1.jsonl")  # fmt: skip
    process(db)
    assert grouped(db)[1] == [{a[0], a[1], y}]
    # y turns into a challenge page dated in March; a third address makes the text a repeat
    import_jsonl(tmp_path, db, [dated(y, STUB, "03-01", "Just a moment..."),
                                dated(a[2], HEADER, "01-04")], "2.jsonl")  # fmt: skip
    process(db)
    assert grouped(db)[1] == [{y}]
    with connect(db, read_only=True) as con:
        [(last,)] = con.execute("SELECT last_seen FROM narratives").fetchall()
    assert last.isoformat()[:10] == "2026-01-03"
    # like the header in its first 300 characters, no copy of it, and 76 days after y
    import_jsonl(tmp_path, db, [dated("https://d.example/z", REWORDED, "03-20")], "3.jsonl")
    process(db)
    assert grouped(db)[1] == [{y}, {"https://d.example/z"}]


def test_a_narrative_left_by_repeats_keeps_the_vector_of_the_version_it_holds(tmp_path):
    """With the embedding model: y (b.example) carries a.example's header and shares its
    narrative; y's page then serves b.example's own newsletter box (rejected as b.example's
    boilerplate: y stays the page it was) while a third a.example address withdraws the
    other two. The narrative is counted again from y's header, not from the rejected box's
    vector: a reworded header joins it (before, the narrative's centroid was the box's, and
    the header started a narrative of its own)."""
    db = tmp_path / "n.duckdb"
    a = [f"https://a.example/news/{i}" for i in range(1, 4)]
    y, box = "https://b.example/y", [f"https://b.example/p{i}" for i in range(2)]
    stages = ["extract", "langid", "embed", "dedup", "cluster"]
    settings = {"dedup": {"translated": False}}
    import_jsonl(tmp_path, db, [page(a[0], HEADER, "Regional Voice"),
                                page(a[1], HEADER, "Regional Voice"),
                                page(y, HEADER, "Regional Voice"),
                                *(page(u, NEWSLETTER, "Morning Ledger") for u in box)],
                 "1.jsonl")  # fmt: skip
    process(db, settings, stages)
    assert {a[0], a[1], y} in grouped(db)[1]
    import_jsonl(tmp_path, db, [page(y, NEWSLETTER, "Morning Ledger"),
                                page(a[2], HEADER, "Regional Voice")], "2.jsonl")  # fmt: skip
    process(db, settings, stages)
    assert set(rejected(db)) == {*a, *box, y} and grouped(db)[1] == [{y}]
    import_jsonl(tmp_path, db, [page("https://d.example/z", REWORDED, "Regional Voice")],
                 "3.jsonl")  # fmt: skip
    process(db, settings, stages)
    assert grouped(db)[1] == [{y, "https://d.example/z"}]
