import json
import re

from pipeline.extract import ExtractStage
from pipeline.runner import run_stages
from storage import connect
from tests.conftest import run_cli


def import_docs(tmp_path, db, n=5):
    src = tmp_path / "docs.jsonl"
    src.write_text(
        "\n".join(
            json.dumps(
                {
                    "url": f"https://r.example/{i}",
                    "text": f"Document number {i} talks about the harvest, the weather and the market prices.",
                }
            )
            for i in range(n)
        )
        + "\n"
    )
    run_cli("import", str(src), db=db)


def test_process_is_idempotent(tmp_path):
    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db)
    first = run_cli("process", "--no-progress", db=db).stdout
    assert "extract v2: 5 done" in first and "langid v4: 5 done" in first
    again = run_cli("process", "--no-progress", db=db).stdout
    assert "extract v2: 0 done, 0 rejected" in again and "langid v4: 0 done, 0 rejected" in again
    status = run_cli("status", "--format", "json", db=db).stdout
    report = json.loads(status)
    assert set(report["backlog"].values()) == {0}
    assert report["translations"] == {"not_needed": 5}
    assert report["languages"] == {"en": 5}


class ExplodingExtract(ExtractStage):
    """Fault injection: a stage bug on one document."""

    def extract_one(self, doc):
        if doc.url.endswith("/2"):
            raise RuntimeError("parser crashed")
        return super().extract_one(doc)


def test_a_failing_document_is_recorded_and_the_batch_goes_on(tmp_path):
    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db)
    report = run_stages(db, [ExplodingExtract()], batch_size=10)
    assert (report.stages[0].done, report.stages[0].retrying) == (4, 1)
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT stage, attempts, url FROM stage_errors").fetchall() == [
            ("extract", 1, "https://r.example/2")
        ]
        assert con.execute("SELECT count(*) FROM extractions").fetchone()[0] == 4


def test_limit_and_force(tmp_path):
    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db)
    assert (
        "extract v2: 2 done"
        in run_cli("process", "--stage", "extract", "--limit", "2", "--no-progress", db=db).stdout
    )
    assert (
        "extract v2: 3 done"
        in run_cli("process", "--stage", "extract", "--no-progress", db=db).stdout
    )
    assert (
        "extract v2: 5 done"
        in run_cli("process", "--stage", "extract", "--force", "--no-progress", db=db).stdout
    )
    bad = run_cli("process", "--stage", "nope", db=db, check=False)
    assert bad.returncode == 2 and "unknown stage(s) nope; known stages: extract" in bad.stderr
    # --force with the default stages redoes every stage that can be redone
    forced = run_cli("process", "--force", "--no-progress", db=db)
    assert "extract v2: 5 done" in forced.stdout and "langid v4: 5 done" in forced.stdout
    assert "cluster: not redone by --force (run `narrascope cluster --rebuild`" in forced.stdout
    refused = run_cli("process", "--stage", "cluster", "--force", db=db, check=False)
    assert refused.returncode == 2 and "cluster --rebuild" in refused.stderr
    usage = run_cli("process", "--limit", "0", db=db, check=False)
    assert usage.returncode == 2


def test_a_stage_opens_the_file_once_a_batch(tmp_path, monkeypatch):
    """Readers (`narrascope sql`, the dashboard) wait for each open of the writer: a batch
    writes its results and reads the next batch, with its lookups, in one open; a stage with
    a `prepare` (dedup's signatures, computed with the file closed) asks its lookups apart."""
    from pipeline.dedup import DedupStage
    from pipeline.embed import EmbedStage
    from storage import db as storage_db

    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db, n=12)
    run_cli("process", "--stage", "extract", "--stage", "langid", "--no-progress", db=db)
    opens = []
    real_open = storage_db._open
    monkeypatch.setattr(
        storage_db, "_open", lambda path, ro: opens.append(ro) or real_open(path, ro)
    )
    report = run_stages(db, [EmbedStage()], batch_size=4)
    assert report.stages[0].done == 12
    assert opens.count(False) == 3  # one write a batch, the next batch read in it
    # the writer lock's look for a live writer whose lock file was deleted (storage/lock.py),
    # the backlog and the first batch
    assert opens.count(True) == 3
    opens.clear()
    monkeypatch.setattr(DedupStage, "batch_factor", 1)  # batches of 4, as embed's
    report = run_stages(db, [DedupStage(translated=False)], batch_size=4)
    assert report.stages[0].done == 12
    assert (opens.count(False), opens.count(True)) == (3, 3 + 3)  # + the lookups a batch
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 12


def test_a_read_ahead_that_fails_is_read_again(tmp_path, monkeypatch):
    """Reading the next batch in the write's connection is an optimisation: when it fails,
    the batch is read again on its own and the run goes on."""
    from pipeline import runner

    db = tmp_path / "n.duckdb"
    import_docs(tmp_path, db, n=6)
    calls = []
    real_load = runner.load_inputs

    def load_inputs(con, keys, **kw):
        calls.append(len(keys))
        if len(calls) == 2:  # the first read ahead
            raise OSError("read failed")
        return real_load(con, keys, **kw)

    monkeypatch.setattr(runner, "load_inputs", load_inputs)
    report = run_stages(db, [ExtractStage()], batch_size=3)
    assert (report.stages[0].done, calls) == (6, [3, 3, 3])


def test_cheap_stages_take_bigger_batches_with_the_same_results(tmp_path, monkeypatch):
    """langid and signals cost about 2 ms a document or less, less than a batch's reads and
    writes: they take batch_factor (8) times the configured batch, and what they store does not
    depend on it."""
    from pipeline.langid import LangIdStage
    from pipeline.signals import SignalsStage
    from storage import db as storage_db

    texts = [
        "Document number {i} talks about the harvest, the weather and the market prices.",
        "Документ номер {i} рассказывает об урожае, погоде и ценах на рынке этой осенью.",
        "Document {i} on sanctions and grain.\n\nWould you like me to tailor this piece for a "
        "specific audience or make it more concise?",
    ]
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(
        json.dumps({"url": f"https://r.example/{i}", "text": texts[i % 3].format(i=i)}) + "\n"
        for i in range(12)
    ))  # fmt: skip

    def processed(name):
        db = tmp_path / f"{name}.duckdb"
        run_cli("import", str(src), db=db)
        run_stages(db, [ExtractStage()], batch_size=4)
        opens = []
        real_open = storage_db._open
        monkeypatch.setattr(
            storage_db, "_open", lambda path, ro: opens.append(ro) or real_open(path, ro)
        )
        report = run_stages(db, [LangIdStage(), SignalsStage()], batch_size=4)
        monkeypatch.setattr(storage_db, "_open", real_open)
        assert [s.done for s in report.stages] == [12, 12]
        with connect(db, read_only=True) as con:
            stored = [
                con.execute(f"SELECT {c} FROM {t} ORDER BY ALL").fetchall()
                for t, c in [
                    ("languages", "*"),
                    ("signal_scores", "* EXCLUDE (scored_at)"),
                    ("signal_hits", "*"),
                ]
            ]
        return opens.count(False), stored

    writes, stored = processed("factor")
    assert writes == 2  # one batch of 12 for each stage (up to 32), where 4 would take 3 each
    monkeypatch.setattr(LangIdStage, "batch_factor", 1)
    monkeypatch.setattr(SignalsStage, "batch_factor", 1)
    writes, same = processed("plain")
    assert writes == 6 and same == stored
    assert {r[3] for r in stored[0]} == {"en", "ru"} and len(stored[2]) >= 4


def test_a_stage_reads_its_backlog_a_page_at_a_time(tmp_path, monkeypatch):
    """Finding the pending documents scans the stage's keys, a cost that grows with the
    store: the runner reads a page of keys at once and serves its batches from it. The
    batches, their order and what is stored are those of a scan a batch, a document that
    fails is not served again in the run, and the page is read again when it runs out."""
    from pipeline import runner
    from storage import stage_inputs

    scans, served = [], []
    real_pending, real_load = stage_inputs._pending_rows, runner.load_inputs

    def pending(*args, **kw):  # the scan of a page of keys: (con, stage, version, requires, limit)
        scans.append(args[4])
        return real_pending(*args, **kw)

    def load_inputs(con, keys, **kw):
        served.append([k[0] for k in keys])
        return real_load(con, keys, **kw)

    monkeypatch.setattr(stage_inputs, "_pending_rows", pending)
    monkeypatch.setattr(runner, "load_inputs", load_inputs)

    def run(page):
        db = tmp_path / f"page{page}.duckdb"
        import_docs(tmp_path, db, n=10)
        monkeypatch.setattr(stage_inputs, "PAGE", page)
        scans.clear()
        served.clear()
        report = run_stages(db, [ExplodingExtract()], batch_size=2)
        assert (report.stages[0].done, report.stages[0].retrying) == (9, 1)
        with connect(db, read_only=True) as con:
            stored = con.execute("SELECT * FROM extractions ORDER BY ALL")
            return list(scans), list(served), stored.fetchall()

    per_batch = run(1)  # a page no bigger than a batch: one scan a batch, as before pages
    assert per_batch[0] == [2, 2, 2, 2, 2]
    paged = run(4)
    assert paged[0] == [4, 4, 4]  # the last scan finds 2 of 4: the backlog is all held
    assert paged[1] == per_batch[1] and len({d for b in paged[1] for d in b}) == 10
    assert paged[2] == per_batch[2] and len(paged[2]) == 9


def test_a_stage_summary_lists_its_counts_in_the_same_order_whatever_the_documents_order():
    """The counts a stage reports (`18 translated copies ..., 2 exact copies ...`) were listed
    in the order the documents first met them, which follows a crawl's timing: two runs of
    the demo printed the same counts in different orders."""
    from pipeline.cli.formatting import format_stage_report
    from pipeline.reports import ProcessReport, StageReport

    class Counted:
        def __init__(self, key):
            self.counts = {key: 1}

    def summary(keys):
        s = StageReport("cluster", "3", done=len(keys), seconds=1.0)
        s.count([Counted(k) for k in keys])
        return format_stage_report(s), ProcessReport(stages=[s]).as_dict()

    one = summary(["narrative_new", "narrative_copy", "narrative_new", "narrative_nearest"])
    other = summary(["narrative_nearest", "narrative_new", "narrative_copy", "narrative_new"])
    assert one[0] == other[0]
    assert one[0].endswith("\n    1 narrative copy, 1 narrative nearest, 2 narrative new")
    assert list(one[1]["cluster"]) == list(other[1]["cluster"])


def test_documents_rejected_on_a_forced_rerun_leave_what_later_stages_built_on_them(tmp_path):
    """Tightening a stage's limit and redoing it (`process --stage extract --force`) rejects
    documents the later stages had processed: they leave copies, narratives, search and the
    text views, and the run says how many; the other documents keep theirs."""
    db = tmp_path / "n.duckdb"
    long = (
        "The regional parliament voted on Tuesday to extend the emergency grain subsidies "
        "for another six months, after farmers blocked three border crossings in protest."
    )
    src = tmp_path / "docs.jsonl"
    rows = [{"url": f"https://copy{i}.example/a", "text": long} for i in range(3)] + [
        {"url": f"https://r.example/{i}", "text": f"Short note {i} on the weather."}
        for i in range(2)
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_cli("import", str(src), db=db)
    run_cli("process", "--no-progress", db=db)

    def rows_of(sql: str) -> list:
        out = run_cli("sql", "--format", "json", sql, db=db).stdout
        return json.loads(out)

    grouped = "SELECT doc_id FROM copy_members UNION SELECT doc_id FROM narrative_members"
    copies = {
        r["doc_id"] for r in rows_of("SELECT doc_id FROM v_documents WHERE url LIKE '%copy%'")
    }
    assert copies <= {r["doc_id"] for r in rows_of(grouped)}
    config = tmp_path / "narrascope.toml"
    config.write_text("[extract]\nmax_chars = 100\n")
    out = run_cli("--config", str(config), "process", "--no-progress", "--stage", "extract",
                  "--force", db=db).stdout  # fmt: skip
    assert "extract v2: 2 done, 3 rejected" in out
    assert "3 withdrawn from later stages" in out
    assert not copies & {r["doc_id"] for r in rows_of(grouped)}
    stored = "SELECT doc_id FROM {} UNION ALL " * 3 + "SELECT doc_id FROM {}"
    tables = ("languages", "embeddings", "minhash", "signal_scores")
    assert not copies & {r["doc_id"] for r in rows_of(stored.format(*tables))}
    views = rows_of("SELECT doc_id, text, lang, narrative_id FROM v_documents")
    assert all(
        r["text"] is None and r["narrative_id"] is None for r in views if r["doc_id"] in copies
    )
    assert all(r["narrative_id"] is not None for r in views if r["doc_id"] not in copies)
    # the next run has nothing to do for them
    again = run_cli("process", "--no-progress", db=db).stdout
    assert "extract v2: 0 done, 0 rejected" in again and "cluster v3: 0 done, 0 rejected" in again


def import_furnished_pages(tmp_path, db) -> list[dict]:
    """Three copies of a page whose text has a newsletter and a share line, and another page
    with none; imported into ``db``. The pages' rows, as imported."""
    body = (
        "<p>The regional parliament voted on Tuesday to extend the emergency grain subsidies "
        "for another six months, after farmers blocked three border crossings in protest. "
        "The subsidy covers diesel and fertiliser for small farms across the region.</p>"
    )
    page = "<html><head><title>{t}</title></head><body><article><h1>{t}</h1>{b}</article></body></html>"
    furnished = body + "<p>Subscribe to our newsletter!</p>" + body + "<p>Share on Facebook</p>"
    other = (
        "<p>Storms closed the northern harbour for a week, and the fishing fleet stayed in port "
        "while the coast guard searched for two missing trawlers off the cape.</p>"
    )
    rows = [{"url": f"https://copy{i}.example/a", "html": page.format(t="Grain", b=furnished)}
            for i in range(3)] + [
            {"url": "https://r.example/fish", "html": page.format(t="Fish", b=other * 2)}]  # fmt: skip
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_cli("import", str(src), db=db)
    return rows


LATER = ("langid", "signals", "translate", "embed", "dedup", "cluster")


def test_a_forced_rerun_that_changes_a_text_has_the_later_stages_redo_that_document(tmp_path):
    """`process --stage extract --force` under other settings keeps every page, but three now
    lose their newsletter and share lines: the later stages redo those three (vectors, copy
    group, narrative, which keeps its id) at the next `process`, and leave the pages whose
    text is as before."""
    db = tmp_path / "n.duckdb"
    rows = import_furnished_pages(tmp_path, db)
    plain = tmp_path / "plain.toml"
    plain.write_text("[extract]\nfurniture = false\n")
    run_cli("--config", str(plain), "process", "--no-progress", db=db)

    def by_url(sql: str) -> dict:
        out = run_cli("sql", "--format", "json", sql, db=db).stdout
        return {r["url"]: r["value"] for r in json.loads(out)}

    vectors = "SELECT d.url, e.vector AS value FROM embeddings e JOIN v_documents d USING (doc_id)"
    groups = "SELECT url, copy_group_id AS value FROM v_documents"
    narratives = "SELECT url, narrative_id AS value FROM v_documents"
    before = by_url(vectors), by_url(groups), by_url(narratives)
    copies = [r["url"] for r in rows[:3]]
    assert len({before[1][u] for u in copies}) == 1 and before[1][copies[0]] is not None

    out = run_cli("process", "--no-progress", "--stage", "extract", "--force", db=db).stdout
    assert "extract v2: 4 done, 0 rejected" in out and "3 sent back to later stages" in out
    assert set(by_url(vectors)) == {rows[3]["url"]}  # until the later stages redo them
    assert "Subscribe" not in by_url("SELECT url, text AS value FROM v_documents")[copies[0]]

    again = run_cli("process", "--no-progress", db=db).stdout
    assert all(re.search(rf"^{stage} v\S+: 3 done", again, re.M) for stage in LATER), again
    vectors_now, groups_now, narratives_now = by_url(vectors), by_url(groups), by_url(narratives)
    assert all(vectors_now[u] != before[0][u] for u in copies)  # embedded from the new text
    assert len({groups_now[u] for u in copies}) == 1 and groups_now[copies[0]] is not None
    assert len({narratives_now[u] for u in copies}) == 1
    assert narratives_now[copies[0]] == before[2][copies[0]]  # their narrative's id, back
    fish = rows[3]["url"]
    assert vectors_now[fish] == before[0][fish] and narratives_now[fish] == before[2][fish]
    assert "0 done, 0 rejected" in run_cli("process", "--no-progress", db=db).stdout.split("\n")[-2]


def test_a_new_stage_version_or_an_unfinished_forced_run_sends_changed_texts_back(tmp_path):
    """As with `--force`: a new version of the extract stage (new rules) that changes three
    texts sends those three back to the stages after it, and those alone; so does a forced
    run that stopped early (`--limit`, `--max-duration`), when the next run finishes it."""
    from pipeline.langid import LangIdStage

    db = tmp_path / "n.duckdb"
    import_furnished_pages(tmp_path, db)
    run_stages(db, [ExtractStage(furniture=False), LangIdStage()])

    def sent_back(report) -> tuple[int, int, int]:
        extract, langid = report.stages
        return extract.done, extract.counters.get("sent_back_to_later_stages", 0), langid.done

    stages = [ExtractStage(), LangIdStage()]
    assert sent_back(run_stages(db, stages, force=["extract"], limit=1)) == (1, 1, 1)
    assert sent_back(run_stages(db, stages)) == (3, 2, 2)  # the forced run's rest
    new_rules = ExtractStage(furniture=False)
    new_rules.version = "3"
    assert sent_back(run_stages(db, [new_rules, LangIdStage()])) == (4, 3, 3)
