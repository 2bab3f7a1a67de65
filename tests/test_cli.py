"""The command line fails safely: one clear `error:` line and exit 1 (2 for usage), never a
traceback, never a silently wrong answer, and nothing lost. Each test runs the real CLI in a
subprocess on a real DuckDB file."""

import json
import re
import subprocess
import sys

import pytest

from storage import connect
from tests.conftest import ROOT, import_jsonl, run_cli

LONG_URL = "https://news.example/2026/10/" + "a-very-long-slug-about-the-story-" * 4 + "end/"
DOCS = [
    {"url": LONG_URL, "text": "Западные санкции вызвали голод в Африке. " * 8, "lang": "ru",
     "published_at": "2026-10-01T08:00:00Z"},
    {"url": "https://news.example/en/1", "text": "Western sanctions left Africa hungry. " * 8,
     "lang": "en", "published_at": "2026-10-02T10:30:00+00:00"},
]  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Two imported documents; tests must leave them as they are."""
    tmp = tmp_path_factory.mktemp("cli")
    path = tmp / "n.duckdb"
    import_jsonl(tmp, path, DOCS)
    return path


def documents(db) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute("SELECT url, text FROM v_documents ORDER BY url").fetchall()


def assert_one_error_line(proc, code: int, *fragments: str) -> str:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    if code == 1:
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr
    return proc.stderr


# 1-4: narrascope sql


def test_sql_empty_query_is_one_error_line(db):
    before = documents(db)
    for query in ("", "   ", "-- just a comment"):
        proc = run_cli("sql", query, db=db, check=False)
        assert_one_error_line(proc, 1, "error: empty query")
        assert proc.stdout == ""
    assert documents(db) == before


def test_sql_refuses_more_than_one_statement_instead_of_showing_the_last(db):
    before = documents(db)
    proc = run_cli("sql", "SELECT 1 AS first; SELECT 2 AS second", db=db, check=False)
    assert_one_error_line(proc, 1, "one statement at a time: this query has 2")
    assert "second" not in proc.stdout
    # a trailing semicolon or a ';' inside a string is still one statement
    proc = run_cli("sql", "SELECT 'a;b' AS s;", "--format", "csv", db=db)
    assert proc.stdout == "s\na;b\n"
    assert "one statement at a time" in run_cli("sql", "--help").stdout
    assert documents(db) == before


def test_sql_query_may_start_with_a_comment_or_come_from_stdin(db):
    proc = run_cli("sql", "-- languages\nSELECT count(*) AS n FROM v_documents", "--format",
                   "csv", db=db)  # fmt: skip
    assert proc.stdout == "n\n2\n"
    proc = run_cli("sql", "--format", "json", "-- x = 1\nSELECT 7 AS seven", db=db)
    assert json.loads(proc.stdout) == [{"seven": 7}]
    import subprocess
    import sys

    piped = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "sql", "-", "--format", "csv"],
        input="-- from a file\nSELECT count(*) AS n FROM v_documents;\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == "n\n2\n"
    # a mistyped option is still a usage error, not a query
    proc = run_cli("sql", "--formt", "csv", db=db, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_output_a_reader_stops_reading_ends_quietly(db, tmp_path):
    """`... | head -1`: the reader closes the pipe; nothing failed, so no error line and
    exit 0 (`sources list` said "error: [Errno 32] Broken pipe" and exited 1)."""
    import subprocess
    import sys

    sources = tmp_path / "sources.toml"
    sources.write_text("".join(f'[[source]]\nname = "s{i}"\nhome = "https://s{i}.example/"\n'
                               "follow_links = true\n\n" for i in range(2000)))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "--db", str(db), "sources", "list",
         "--sources", str(sources)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout.readline().startswith(b"s0 ")
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert proc.stderr.read() == b""


def run_with_its_reader_gone(*args: str) -> None:
    """The CLI with its standard output closed before the first line (`| head -1` at its
    quickest): it must exit 0 with nothing on stderr."""
    import subprocess
    import sys

    from tests.conftest import cli_env

    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=cli_env(),
    )  # fmt: skip
    proc.stdout.close()
    assert proc.wait(timeout=300) == 0
    assert proc.stderr.read() == b""


def test_a_process_whose_reader_stopped_reading_is_recorded_as_the_run_it_was(tmp_path):
    """`narrascope process | head -1`: the work is done and committed, and the command exits
    0 with no message; the run was recorded `failed` ("BrokenPipeError"), in `status`, v_runs
    and the dashboard, when the reader was gone before the report was printed."""
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, DOCS)
    run_with_its_reader_gone("--db", str(db), "process", "--stage", "extract", "--no-progress")
    with connect(db, read_only=True) as con:
        runs = con.execute(
            "SELECT status, error, extract_done FROM v_runs WHERE kind = 'process'"
        ).fetchall()
    print("process run:", runs)
    assert runs == [("ok", None, len(DOCS))]


def test_a_run_whose_reader_stopped_reading_still_processes_what_it_crawled(tmp_path, local_site):
    """`narrascope run | head -1`: the reader is gone after the crawl's line. The run crawled,
    then exited 0 without processing anything (the crawl summary's BrokenPipeError ended the
    command); it processes what it fetched, as a run whose output is read does."""
    from tests.crawlers.test_evidence import feed_site
    from tests.crawlers.test_spiders import article, sources_file

    pages = {f"/p/{i}": ("text/html; charset=utf-8", article(f"Статья {i}"), {}) for i in range(3)}
    site = feed_site(local_site, pages)
    sources = sources_file(tmp_path, home=site.base + "/", feeds=[site.base + "/feed/"])
    config = tmp_path / "narrascope.toml"
    config.write_text('[crawl]\ndownload_delay = 0\nautothrottle = false\n'
                      '[pipeline]\nstages = ["extract"]\n')  # fmt: skip
    db = tmp_path / "n.duckdb"
    run_with_its_reader_gone("--db", str(db), "--config", str(config), "run", "--sources", sources)
    with connect(db, read_only=True) as con:
        runs = con.execute(
            "SELECT kind, status, coalesce(new, extract_done) FROM v_runs ORDER BY started_at"
        ).fetchall()
    print("runs:", runs)
    assert runs[:2] == [("crawl", "ok", 3), ("process", "ok", 3)]


def test_an_empty_search_is_a_usage_error(db):
    """``search --semantic ""`` ranked arbitrary documents and exited 0 (helper's pass)."""
    for args in (["--semantic", ""], ["", " "]):
        proc = run_cli("search", *args, db=db, check=False)
        assert proc.returncode == 2 and "nothing to search for" in proc.stderr, proc.stderr


def test_a_search_never_drops_a_word(tmp_path):
    """Every word must occur: a 13th word was silently dropped, so a word no document has
    still found the Russian piece (only the first 12 words were searched)."""
    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [{**DOCS[0], "title": "Санкции: голод в Африке"}])
    words = ["санкции", "голод", "Африке"] * 4
    assert LONG_URL in run_cli("search", *words, db=db).stdout  # the listing's title
    proc = run_cli("search", *words, "zzzyxq", "--format", "json", db=db, check=False)
    assert LONG_URL not in proc.stdout
    assert proc.returncode == 2 and "at most 12 words; this one has 13" in proc.stderr


def test_sql_reads_times_in_utc_whatever_the_machines_time_zone(db, monkeypatch):
    """``sql`` opened a session of its own that took the machine's time zone: a pasted
    dashboard query counted other days under TZ=Asia/Tokyo (found by a helper's pass)."""
    query = ("SELECT current_setting('TimeZone') AS tz, first_seen_at::DATE AS day, "
             "strftime(first_seen_at, '%H') AS hour FROM v_documents ORDER BY doc_id LIMIT 1")  # fmt: skip
    utc = run_cli("sql", query, "--format", "csv", db=db).stdout
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: most hours fall on another day
    assert run_cli("sql", query, "--format", "csv", db=db).stdout == utc
    assert utc.splitlines()[1].startswith("UTC,")


def test_sql_cannot_write_files_read_files_or_reach_the_network(db, tmp_path):
    before = documents(db)
    secret = tmp_path / "secret.txt"
    secret.write_text("the-secret-content\n")
    out = tmp_path / "out.csv"
    other = tmp_path / "other.duckdb"
    attempts = {
        f"COPY (SELECT * FROM v_documents) TO '{out}'": "Cannot access file",
        f"SELECT content FROM read_text('{secret}')": "Cannot access file",
        f"SELECT * FROM read_csv('{secret}')": "Cannot access file",
        "SELECT * FROM read_text('secret.txt')": "Cannot access file",  # relative to cwd
        f"SELECT * FROM glob('{tmp_path}/*')": "Cannot access file",
        f"ATTACH '{other}' AS other": "Cannot access file",
        f"EXPORT DATABASE '{tmp_path / 'export'}'": "Cannot access",
        "INSTALL httpfs": "Cannot access",
        "LOAD httpfs": "disabled",
        "SELECT * FROM read_csv('https://example.org/data.csv')": "Cannot access file",
        "SET enable_external_access = true": "the configuration has been locked",
        "RESET lock_configuration": "the configuration has been locked",
        "DELETE FROM documents": "read-only",
    }
    for query, why in attempts.items():
        proc = run_cli("sql", query, db=db, check=False, cwd=tmp_path)
        assert_one_error_line(proc, 1, why)
        assert "the-secret-content" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.txt"]  # nothing written
    assert documents(db) == before
    help_text = run_cli("sql", "--help").stdout
    assert "no local files" in help_text and "no network" in help_text
    # what it may do: read the database, and inflate() a stored page
    proc = run_cli("sql", "SELECT count(*) FROM document_versions WHERE inflate(html_zlib) "
                   "IS NULL", "--format", "csv", db=db)  # fmt: skip
    assert proc.stdout.splitlines()[1] == "2"  # imported as text: no HTML stored


def test_sql_inflate_gives_back_the_stored_html(tmp_path):
    db = tmp_path / "h.duckdb"
    html = "<html><body><p>Ровно эта страница.</p></body></html>"
    import_jsonl(tmp_path, db, [{"url": "https://h.example/1", "html": html}])
    proc = run_cli("sql", "SELECT inflate(html_zlib) AS html FROM document_versions",
                   "--format", "json", db=db)  # fmt: skip
    assert json.loads(proc.stdout) == [{"html": html}]


# 6: search --semantic --lang names the real cause


STUB = {"url": "https://blocked.example/x", "title": "Access denied",
        "text": "Access denied. You don't have permission to access this server."}  # fmt: skip


def test_semantic_search_in_a_language_without_vectors_says_so(tmp_path):
    db = tmp_path / "v.duckdb"
    import_jsonl(tmp_path, db, [*DOCS, STUB])
    proc = run_cli("search", "--semantic", "hunger", "--lang", "xx", db=db, check=False)
    assert_one_error_line(proc, 1, "Run `narrascope process --stage embed` first")  # none yet
    run_cli("process", "--stage", "extract", "--stage", "langid", "--stage", "embed",
            "--no-progress", db=db)  # fmt: skip
    proc = run_cli("search", "--semantic", "hunger", "--lang", "xx", db=db, check=False)
    err = assert_one_error_line(proc, 1, "no documents in 'xx' are embedded with")
    assert "languages with vectors: en (1), ru (1)" in err
    assert "process --stage embed" not in err
    hits = json.loads(
        run_cli("search", "--semantic", "hunger", "--lang", "ru", "--format", "json", db=db).stdout
    )
    assert [h["url"] for h in hits] == [LONG_URL]
    assert LONG_URL in run_cli("search", "санкции", db=db).stdout  # table: the whole URL
    # a language is a code, in any case ("RU" is ru); a malformed one is a usage error
    assert LONG_URL in run_cli("search", "санкции", "--lang", "RU", db=db).stdout
    # a language no document is in says so, by keywords as by meaning (0 rows and exit 0)
    proc = run_cli("search", "санкции", "--lang", "xx", db=db, check=False)
    assert "languages: en (1), ru (1)" in assert_one_error_line(proc, 1, "no documents in 'xx'")
    assert run_cli("search", "zzzyxq", "--lang", "ru", db=db).returncode == 0  # no hit: fine
    english = json.loads(run_cli("search", "--semantic", "hunger", "--query-lang", "EN",
                                 "--format", "json", db=db).stdout)  # fmt: skip
    lower = json.loads(run_cli("search", "--semantic", "hunger", "--query-lang", "en",
                               "--format", "json", db=db).stdout)  # fmt: skip
    assert english == lower
    # a query language no document is in still searches, and says what the query is taken as
    proc = run_cli("search", "--semantic", "hunger", "--query-lang", "xx", "--format", "json",
                   db=db)  # fmt: skip
    assert "--query-lang xx: no stored document is in that language" in proc.stderr
    assert {h["url"] for h in json.loads(proc.stdout)} == {h["url"] for h in lower}
    for known in ("ru", "und"):  # "und" names no language: nothing to warn of
        assert "query-lang" not in run_cli("search", "--semantic", "hunger", "--query-lang",
                                           known, db=db).stderr  # fmt: skip
    assert_one_error_line(run_cli("search", "x", "--lang", "r!", db=db, check=False), 2,
                          "'r!' is not a language code")  # fmt: skip
    # "und" (a text too short to tell) is what the stage stores: a filter, not a typo
    assert_one_error_line(run_cli("search", "x", "--lang", "und", db=db, check=False), 1,
                          "no documents in 'und'")  # fmt: skip
    # a tag as imports give it is read as its language, pt (here one no document is in)
    assert_one_error_line(run_cli("search", "x", "--lang", "pt-BR", db=db, check=False), 1,
                          "no documents in 'pt'")  # fmt: skip
    assert_one_error_line(run_cli("search", "x", "--limit", "9" * 20, db=db, check=False), 2,
                          "--limit")  # fmt: skip
    # `similar` says which languages have vectors, as search does
    proc = run_cli("similar", LONG_URL, "--lang", "fr", db=db, check=False)
    assert_one_error_line(proc, 1, "no documents in 'fr' have vectors; languages with "
                          "vectors: en (1), ru (1)")  # fmt: skip
    # and why a rejected page has no vector, rather than "run process" that changes nothing
    proc = run_cli("similar", STUB["url"], db=db, check=False)
    err = assert_one_error_line(proc, 1, "the extract stage rejected it (not_news: block:")
    assert "run `narrascope process`" not in err


def test_bad_export_windows_ids_and_thresholds_are_usage_errors(db, tmp_path):
    """Odd values a user types give one line and exit 2, not a traceback or an empty export."""
    export = ("export", "documents", "--out")
    for args, fragment in (
        (("--since", "99999999d"), "reaches back before the year 1"),
        (("--since", ""), "cannot read ''"),
        (("--since", "2026-10-10", "--until", "2026-10-05"), "is not before --until"),
        (("--narrative", "9" * 20), f"no narrative {'9' * 20}"),
        (("--source", "nosuch"), "no source 'nosuch' in this database (sources: "),
        (
            ("--lang", "UA"),
            "no document in language 'ua' in this database (languages: none identified yet)",
        ),
    ):
        proc = run_cli(*export, str(tmp_path / "x"), *args, db=db, check=False)
        assert_one_error_line(proc, 2, fragment)
        assert not (tmp_path / "x").exists()
    # no upper bound, and minutes as `alerts --since` takes them
    run_cli(*export, str(tmp_path / "all"), "--until", "9999-12-31", db=db)
    run_cli(*export, str(tmp_path / "recent"), "--since", "90m", db=db)
    for value in ("46", "nan", "-1", "0"):
        proc = run_cli("cluster", "--rebuild", "--threshold", value, db=db, check=False)
        assert_one_error_line(proc, 2, "not a similarity above 0 and at most 1")


# 7: output formats


def test_what_a_page_or_an_import_gave_reaches_the_terminal_escaped(tmp_path):
    """A source name, a tag or a title holds whatever an import gave: an error that names it,
    and a table that shows it, escape what would drive the terminal, reorder or hide text, or
    break the table's columns (before: the export's error printed a raw ESC[2J, and a table
    a raw tab and right-to-left mark)."""
    db = tmp_path / "h.duckdb"
    evil = "\x1b[2J\x1b[31mEVIL\u202e\x1b[0m"
    import_jsonl(tmp_path, db, [{"url": "https://h.example/1", "source": evil,
                                 "title": "tab\there\u200fmark\ufeff", "text": "Some text. " * 9}])  # fmt: skip
    proc = run_cli("export", "documents", "--out", str(tmp_path / "x"), "--source", "nope",
                   db=db, check=False)  # fmt: skip
    err = assert_one_error_line(proc, 2, "(sources: \\x1b[2J\\x1b[31mEVIL\\u202e\\x1b[0m)")
    assert not any(c in err for c in "\x1b\u202e")
    table = run_cli("sql", "SELECT title FROM v_documents", db=db).stdout
    assert "tab\\x09here\\u200fmark\\ufeff" in table
    assert not any(c in table for c in "\t\u200f\ufeff")


def test_table_never_clips_urls_and_json_csv_write_iso_values(db):
    table = run_cli(
        "sql", "SELECT url, text FROM document_versions WHERE url LIKE '%slug%'", db=db
    ).stdout
    assert LONG_URL in table  # whole, copyable
    row = table.splitlines()[2]
    assert "…" in row and len(row) < len(LONG_URL) + 70  # long text is clipped
    query = (
        "SELECT url, published_at, published_at::DATE AS day, "
        "INTERVAL '1 day 22 hours 50 minutes' AS age, '\\x00\\xff'::BLOB AS raw, "
        "[1, 2] AS list, true AS yes, [false] AS nos FROM v_documents WHERE url LIKE '%/en/1'"
    )
    rows = json.loads(run_cli("sql", query, "--format", "json", db=db).stdout)
    assert rows == [
        {
            "url": "https://news.example/en/1",
            "published_at": "2026-10-02T10:30:00+00:00",
            "day": "2026-10-02",
            "age": "P1DT22H50M",
            "raw": "00ff",
            "list": [1, 2],
            "yes": True,
            "nos": [False],
        }
    ]
    csv_out = run_cli("sql", query, "--format", "csv", db=db).stdout
    assert csv_out.splitlines() == [
        "url,published_at,day,age,raw,list,yes,nos",
        "https://news.example/en/1,2026-10-02T10:30:00+00:00,2026-10-02,P1DT22H50M,00ff,"
        '"[1, 2]",true,[false]',
    ]  # booleans as JSON and the exports' CSV write them, not Python's True
    table = run_cli("sql", query, db=db).stdout
    assert re.search(
        r"2026-10-02T10:30:00\+00:00 +2026-10-02 +P1DT22H50M +00ff +\[1, 2\] +true +\[false\]",
        table,
    )
    # a repeated column name keeps both values in JSON
    both = json.loads(run_cli("sql", "SELECT 1 AS a, 2 AS a", "--format", "json", db=db).stdout)
    assert both == [{"a": 1, "a_2": 2}]
    # a JSON column (v_runs.summary) nests in JSON, and stays JSON text in csv
    query = """SELECT '{"new": 2, "sources": ["a"]}'::JSON AS summary, '"a"'::JSON AS word"""
    nested = json.loads(run_cli("sql", query, "--format", "json", db=db).stdout)
    assert nested == [{"summary": {"new": 2, "sources": ["a"]}, "word": '"a"'}]
    assert run_cli("sql", query, "--format", "csv", db=db).stdout.splitlines()[1] == (
        '"{""new"": 2, ""sources"": [""a""]}","""a"""'
    )


# 8: no library log noise for an ordinary rejection


def test_an_unparseable_page_is_a_rejection_without_library_log_lines(tmp_path):
    db = tmp_path / "e.duckdb"
    import_jsonl(tmp_path, db, [
        {"url": "https://e.example/empty", "html": "<html></html>"},
        {"url": "https://e.example/xml", "html": '<?xml version="1.0"?><a/>'},
    ])  # fmt: skip
    proc = run_cli("process", "--stage", "extract", "--no-progress", db=db)
    assert "2 rejected" in proc.stdout
    assert "trafilatura" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    with connect(db, read_only=True) as con:
        reasons = con.execute("SELECT reason, count(*) FROM rejections GROUP BY 1").fetchall()
    assert reasons == [("no_main_text", 2)]


def test_db_and_config_work_after_the_command_and_the_suggested_command_works(tmp_path):
    db = tmp_path / "new" / "ops.duckdb"
    missing = run_cli("status", "--db", str(db), check=False)
    assert missing.returncode == 1
    [line] = missing.stderr.strip().splitlines()
    suggestion = line.split("run `", 1)[1].split("`", 1)[0]
    assert suggestion == f"narrascope init --db {db}"
    assert not db.exists()  # a reader never creates the database
    created = run_cli(*suggestion.split()[1:])
    assert "schema version" in created.stdout and db.exists()
    config = tmp_path / "c.toml"
    config.write_text('[translate]\ntarget = "de"\n')
    status = run_cli("status", "--format", "json", "--db", str(db), "--config", str(config))
    assert json.loads(status.stdout)["documents"] == 0
    # the subcommand's --db wins over the group's
    other = tmp_path / "other.duckdb"
    run_cli("--db", str(other), "init", "--db", str(db))
    assert not other.exists()


def test_every_command_takes_db_config_and_v_after_it():
    """README: every command takes --db, --config and -v before or after it (`demo --serve
    -v` was refused: the demo has a --db of its own and lacked the other two)."""
    import click

    from pipeline.cli import cli

    def commands(group, path=()):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, (*path, name))
            else:
                yield " ".join((*path, name)), command

    lacking = {
        name: sorted({"--db", "--config", "-v"} - {o for p in command.params for o in p.opts})
        for name, command in commands(cli)
    }
    assert {name: missing for name, missing in lacking.items() if missing} == {}
    assert len(lacking) > 20


def test_every_commands_help_shows_an_example():
    """README: `narrascope COMMAND --help` shows an example for each (`models list` had none)."""
    from click.testing import CliRunner

    from pipeline.cli import cli

    def commands(group, path=()):
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, (*path, name))
            else:
                yield (*path, name)

    runner = CliRunner()
    helps = {" ".join(path): runner.invoke(cli, [*path, "--help"]) for path in commands(cli)}
    assert all(result.exit_code == 0 for result in helps.values())
    lacking = sorted(name for name, result in helps.items() if "Example" not in result.output)
    print("commands whose --help shows no example:", lacking)
    assert lacking == []
    assert len(helps) > 20


def test_log_file_for_log_shippers(tmp_path):
    """--log-file appends what each phase did (and an error with its exit code); with
    --log-format json each line is one JSON object with the command's fields."""
    import json

    from tests.conftest import import_jsonl

    db = tmp_path / "logs.duckdb"
    text = "Western sanctions on fertiliser and grain have left African countries hungry. " * 8
    import_jsonl(tmp_path, db, [{"url": "https://a.example/1", "title": "Grain", "text": text}])
    logs = tmp_path / "logs" / "narrascope.jsonl"
    ok = run_cli("--log-file", str(logs), "--log-format", "json", "process", "--no-progress",
                 "--stage", "extract", "--stage", "langid", db=db)  # fmt: skip
    assert "extract" in ok.stdout and not ok.stderr.strip()  # stderr stays quiet
    records = [json.loads(line) for line in logs.read_text().splitlines()]
    [done] = [r for r in records if r.get("event") == "process"]
    assert done["level"] == "info" and done["time"].endswith("+00:00") and done["run_id"]
    stages = done["summary"]
    assert set(stages) == {"extract", "langid"} and stages["extract"]["done"] == 1

    failed = run_cli("--log-file", str(logs), "--log-format", "json", "process",
                     db=tmp_path / "missing.duckdb", check=False)  # fmt: skip
    assert failed.returncode == 1 and failed.stderr.count("error:") == 1
    last = json.loads(logs.read_text().splitlines()[-1])
    assert (last["level"], last["event"], last["exit_code"]) == ("error", "error", 1)
    assert "no database" in last["message"]

    plain = tmp_path / "plain.log"
    run_cli("--log-file", str(plain), "process", "--stage", "extract", db=db)
    [line] = [x for x in plain.read_text().splitlines() if " INFO narrascope: process run " in x]
    # the text line carries the same fields as the JSON one: the run's id and stage counts
    fields = json.loads(line[line.index(" {") + 1 :])
    assert fields["event"] == "process" and fields["run_id"] in line
    assert set(fields["summary"]) == {"extract"} and "done" in fields["summary"]["extract"]


def test_a_log_file_on_a_full_disk_is_one_warning_and_the_command_goes_on(tmp_path):
    """/dev/full as a full disk: before, a traceback ("--- Logging error ---") for every
    record the command logged."""
    db = tmp_path / "d.duckdb"
    run_cli("init", db=db)
    proc = run_cli("--log-file", "/dev/full", "process", "--no-progress", db=db, check=False)
    assert proc.returncode == 0 and "Logging error" not in proc.stderr, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith(
        "warning: cannot append to the log file /dev/full (No space left on device)"
    )
    assert "extract v" in proc.stdout  # the command's report, whole


def test_a_record_that_does_not_format_is_not_taken_for_a_full_disk(tmp_path, capsys):
    """A library's INFO call with bad arguments fails in formatting, not in writing: logging
    says so as it always has, and a full disk later is still reported."""
    import logging

    from pipeline.logs import LogFile

    handler = LogFile(str(tmp_path / "run.log"))
    handler.setFormatter(logging.Formatter("%(message)s"))
    try:
        handler.handle(logging.makeLogRecord({"msg": "%d pages", "args": ("many",)}))
    finally:
        handler.close()
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "cannot append" not in err
    assert handler.lost == 0


def test_a_log_file_or_argos_folder_under_a_file_is_named_with_what_is_wrong(tmp_path):
    """A path whose folder is a file: before, `error: [Errno 17] File exists: 'x'`, naming
    neither the option nor the path asked for."""
    from tests.conftest import cli_env

    (tmp_path / "x").write_text("a file, not a folder")
    logged = run_cli("--log-file", str(tmp_path / "x" / "run.log"), "status",
                     db=tmp_path / "d.duckdb", check=False)  # fmt: skip
    assert logged.returncode == 2
    assert f"'--log-file' (or NARRASCOPE_LOG_FILE): cannot append to {tmp_path}/x/run.log" in (
        logged.stderr
    )
    assert "a file is in the way" in logged.stderr and "Errno" not in logged.stderr
    env = cli_env(ARGOS_PACKAGES_DIR=str(tmp_path / "x"))
    models = subprocess.run([sys.executable, "-m", "pipeline.cli", "models", "list"], env=env,
                            capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert models.returncode == 1 and models.stderr.count("\n") == 1, models.stderr
    assert f"argostranslate cannot make its folder {tmp_path}/x (a file is in the way)" in (
        models.stderr
    )
    assert "ARGOS_PACKAGES_DIR" in models.stderr


def test_an_unexpected_error_is_one_line_and_its_traceback_needs_v(db, monkeypatch):
    """A bug or an input nothing checked still fails as the README says: one `error:` line,
    exit 1, the traceback only with -v (injected here: keyword search raising)."""
    from click.testing import CliRunner

    from pipeline import search
    from pipeline.cli import cli

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(search, "keyword", broken)
    quiet = CliRunner().invoke(cli, ["--db", str(db), "search", "x"])
    assert quiet.exit_code == 1
    assert quiet.output.strip() == (
        "error: unexpected ZeroDivisionError: division by zero (-v shows where)"
    )
    loud = CliRunner().invoke(cli, ["--db", str(db), "search", "x", "-v"])
    assert loud.exit_code == 1 and "Traceback" in loud.output
    assert "ZeroDivisionError: division by zero" in loud.output

    def peer_gone(*_args, **_kwargs):  # a socket's or a child's pipe, not the reader's
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(search, "keyword", peer_gone)
    failed = CliRunner().invoke(cli, ["--db", str(db), "search", "x"])
    assert failed.exit_code == 1 and failed.output == "error: [Errno 32] Broken pipe\n"


def test_a_writer_into_a_missing_folder_is_refused_but_init_makes_it(tmp_path):
    """A mistyped --db in a cron line (found by a helper's operations pass) started a new
    store in a new folder in silence; only init and demo make the folder now."""
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps({"url": "https://f.example/1", "text": "Text."}) + "\n")
    db = tmp_path / "typo" / "ops.duckdb"
    proc = run_cli("import", str(src), db=db, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: no folder {db.parent} for the database ops.duckdb: create it, or run " \
           f"`narrascope init --db {db}`" in proc.stderr  # fmt: skip
    assert not db.parent.exists()
    run_cli("init", db=db)
    assert "1 new" in run_cli("import", str(src), db=db).stdout
