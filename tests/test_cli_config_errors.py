"""Mistakes in the configuration and the sources file, as an operator makes them: each is
one `error:` line naming the file and the key (exit 1), before anything is fetched or
written, never a traceback and never a run that "succeeds" doing nothing."""

from storage import connect
from tests.conftest import run_cli

FEED = '[[source]]\nname = "loc"\nhome = "{base}/"\nfeeds = ["{base}/feed/"]\n'


def assert_refused(proc, *fragments: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_a_sources_value_of_the_wrong_type_is_refused_not_read_as_true(tmp_path, local_site):
    """``allow_private = "false"`` (a string) is true to Python: the crawl fetched from a
    loopback address it must refuse; other wrong types failed as `unexpected TypeError`
    without naming the file, or (``feeds = "https://..."``) were read a character at a time."""
    site = local_site({"/feed/": ("application/rss+xml", b"<rss/>", {})})
    sources = tmp_path / "sources.toml"
    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    for extra, said in [
        ('allow_private = "false"\n', "allow_private must be true or false, not 'false'"),
        ('tags = ["x"]\n', "tags must be a table of strings, not ['x']"),
        ("max_pages = -5\n", "max_pages must be a whole number >= 0, not -5"),
    ]:
        sources.write_text(FEED.format(base=site.base) + extra)
        proc = run_cli("crawl", "--sources", str(sources), db=db, check=False)
        assert_refused(proc, f"{sources}: source 'loc': {said}")
    sources.write_text(
        f'[[source]]\nname = "loc"\nhome = "{site.base}/"\nfeeds = "{site.base}/feed/"\n'
    )
    assert_refused(run_cli("sources", "list", "--sources", str(sources), db=db, check=False),
                   "feeds must be a list of strings")  # fmt: skip
    with connect(db, read_only=True) as con:  # nothing was fetched from 127.0.0.1
        assert con.execute("SELECT count(*) FROM runs WHERE kind <> 'init'").fetchone() == (0,)


def test_a_misspelt_source_table_is_refused_not_a_crawl_of_nothing(tmp_path):
    """``[[sources]]`` (or any key beside ``[[source]]``) was ignored: the crawl and the
    cron `run` read no source and exited 0 ("crawl ok"); ``source = 5`` failed as
    `unexpected TypeError` without naming the file."""
    sources = tmp_path / "sources.toml"
    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    for command, text, said in [
        ("run", FEED.replace("[[source]]", "[[sources]]"), "unknown key(s) ['sources']"),
        ("crawl", FEED.replace("[[source]]", "[[sources]]"), "unknown key(s) ['sources']"),
        ("crawl", "source = 5\n", "'source' must be [[source]] tables"),
        ("crawl", FEED.replace("[[source]]", "[source]"), "'source' must be [[source]] tables"),
    ]:
        sources.write_text(text.format(base="https://news.example"))
        proc = run_cli(command, "--sources", str(sources), db=db, check=False)
        assert_refused(proc, f"error: {sources}: {said}")
        assert proc.stdout == ""


def test_a_crawl_or_pipeline_value_of_the_wrong_type_is_refused_before_any_work(tmp_path):
    """``[crawl] max_bytes = "big"`` crawled nothing under scrapy's tracebacks and exited 0
    ("crawl ok: 0 responses"); ``[pipeline] batch_size = 0`` (or -3) processed nothing,
    left every document waiting and exited 0, run after run."""
    from tests.conftest import import_jsonl

    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [{"url": "https://news.example/1", "text": "Sanctions. " * 20}])
    sources = tmp_path / "sources.toml"
    sources.write_text(FEED.format(base="https://news.example"))
    config = tmp_path / "narrascope.toml"
    for command, text, said in [
        ("crawl", '[crawl]\nmax_bytes = "big"\n', "[crawl] max_bytes must be a whole number"),
        ("run", "[crawl]\nobey_robots = 0\n", "[crawl] obey_robots must be true or false, not 0"),
        ("crawl", '[crawl]\nlog_level = "LOUD"\n', "[crawl] log_level must be one of DEBUG,"),
        ("process", "[pipeline]\nbatch_size = 0\n", "[pipeline] batch_size must be a whole "
         "number >= 1, not 0"),
        ("process", '[pipeline]\nbatch_size = "64"\n', "[pipeline] batch_size must be"),
        # (no stage named ran every stage)
        ("process", "[pipeline]\nstages = []\n", "[pipeline] stages must be a list of at least"),
    ]:  # fmt: skip
        config.write_text(text)
        args = ["--sources", str(sources)] if command != "process" else []
        proc = run_cli("--config", str(config), command, *args, db=db, check=False)
        assert_refused(proc, f"error: {config}: {said}")
        assert proc.stdout == ""
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT kind FROM runs").fetchall() == [("import",)]


def test_a_stage_setting_of_the_wrong_type_is_refused_not_blamed_on_documents(tmp_path):
    """``[extract] min_chars = "x"`` made extraction raise on every document: each counted a
    failed attempt ("failed and will be retried next run"; after three, rejected as
    ``stage_error``) while `process` exited 0; ``furniture = "false"`` (a string) was true."""
    from tests.conftest import import_jsonl

    db = tmp_path / "n.duckdb"
    import_jsonl(tmp_path, db, [{"url": "https://news.example/1", "text": "Sanctions. " * 20}])
    config = tmp_path / "narrascope.toml"
    for text, said in [
        ('[extract]\nmin_chars = "x"\n', "[extract] min_chars must be a whole number, not 'x'"),
        ('[extract]\nfurniture = "false"\n', "[extract] furniture must be true or false"),
        ("[dedup]\nthreshold = true\n", "[dedup] threshold must be a number, not True"),
        # (a signature this long never came back from datasketch's search for LSH bands)
        (
            f"[dedup]\nnum_perm = {10**18}\n",
            f"[dedup] num_perm must be from 2 to 1024, not {10**18}",
        ),
        ("[dedup]\nthreshold = 1.5\n", "[dedup] threshold must be above 0 and below 1, not 1.5"),
    ]:
        config.write_text(text)
        proc = run_cli("--config", str(config), "process", "--stage", "extract", db=db,
                       check=False)  # fmt: skip
        assert_refused(proc, f"error: {config}: {said}")
    with connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stage_errors").fetchone() == (0,)
        assert con.execute("SELECT kind FROM runs").fetchall() == [("import",)]


def test_an_alerts_setting_of_the_wrong_type_is_refused_naming_the_file(tmp_path):
    """``[alerts] on_run = "false"`` (a string) was true: `run` raised alerts the operator
    turned off; ``burst_z = "x"`` was taken, ``webhook = 5`` failed as `unexpected
    AttributeError`, and `alerts` named no file for a bad ``window``."""
    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    config = tmp_path / "narrascope.toml"
    (tmp_path / "sources.toml").write_text("")
    for command, text, said in [
        ("run", '[alerts]\non_run = "false"\n', "[alerts] on_run must be true or false"),
        ("alerts", '[alerts]\nburst_z = "x"\n', "[alerts] burst_z must be a number, not 'x'"),
        ("alerts", "[alerts]\nwebhook = 5\n", "[alerts] webhook must be a string, not 5"),
        ("alerts", '[alerts]\nwindow = "forever"\n', "[alerts] window 'forever' is not"),
    ]:
        config.write_text(text)
        args = ["--sources", str(tmp_path / "sources.toml")] if command == "run" else []
        proc = run_cli("--config", str(config), command, *args, db=db, check=False)
        assert_refused(proc, f"error: {config}: {said}")


def test_alerts_counts_below_one_are_refused_not_an_unexpected_crash(tmp_path):
    """``[alerts] share_min_documents = 0`` made every `alerts` (and every `run`, after its
    crawl) fail with "unexpected ZeroDivisionError: division by zero" once a source had
    decided documents only in its baseline stretch; ``burst_baseline_windows = -1`` with
    "unexpected TypeError: 'NoneType' object is not iterable"."""
    from datetime import UTC, datetime, timedelta

    from tests.support.alert_data import Corpus, surge

    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    corpus = Corpus(db, datetime.now(UTC))
    surge(corpus, narrative=1)
    corpus.add("quiet", "en", corpus.now - timedelta(days=20), machine_written=False)
    corpus.close()
    config = tmp_path / "narrascope.toml"
    for text, said in [
        ("share_min_documents = 0", "[alerts] share_min_documents must be at least 1, not 0"),
        ("burst_baseline_windows = -1", "[alerts] burst_baseline_windows must be at least 1"),
    ]:
        config.write_text(f"[alerts]\n{text}\n")
        proc = run_cli("--config", str(config), "alerts", db=db, check=False)
        assert_refused(proc, f"error: {config}: {said}")


# A seeded randomized check: one short seed here; NARRASCOPE_RANDOM_SEEDS=N runs N seeds.
ODD = ["x", -1, 0, True, [1], {"a": 1}, 1.5, "", "é\u202e", 10**18]
KEYS = {
    "crawl": ["obey_robots", "download_delay", "max_bytes", "timeout", "write_batch", "warc_dir",
              "seen_expiry_days", "user_agent"],
    "pipeline": ["batch_size", "stages"],
    "extract": ["min_chars", "furniture", "max_chars"],
    "langid": ["min_letters", "max_chars"],
    "embed": ["stubs", "max_chunks", "lead_chars"],
    "dedup": ["threshold", "num_perm", "translated", "window_days"],
    "cluster": ["merge_threshold", "window_days", "lead_chars"],
    "alerts": ["on_run", "burst_z", "new_min_sites", "webhook_retries"],
}  # fmt: skip


def toml_value(value) -> str:
    import json

    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False)


def test_random_config_mistakes_are_one_line_naming_the_file(tmp_path):
    import os
    import random

    db = tmp_path / "n.duckdb"
    run_cli("init", db=db)
    config = tmp_path / "narrascope.toml"
    for seed in range(int(os.environ.get("NARRASCOPE_RANDOM_SEEDS", "1"))):
        rng = random.Random(seed)
        for _ in range(2):
            section = rng.choice(sorted(KEYS))
            key, value = rng.choice(KEYS[section]), rng.choice(ODD)
            config.write_text(f"[{section}]\n{key} = {toml_value(value)}\n")
            proc = run_cli("--config", str(config), "process", db=db, check=False)
            case = f"seed {seed}: [{section}] {key} = {value!r}: {proc.stderr}"
            assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, case
            if proc.returncode:
                assert proc.returncode == 1 and proc.stderr.startswith(f"error: {config}: "), case
                assert len(proc.stderr.strip().splitlines()) == 1, case
