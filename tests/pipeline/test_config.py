from tests.conftest import run_cli


def test_unknown_stage_settings_are_refused_not_ignored(tmp_path):
    config = tmp_path / "narrascope.toml"
    config.write_text('[langid]\nmethd = "lingua"\n')
    proc = run_cli("--config", str(config), "process", db=tmp_path / "n.duckdb", check=False)
    assert proc.returncode == 1
    assert (
        "[langid] has unknown key(s) ['methd']; known: method, min_letters, max_chars"
        in proc.stderr
    )


def test_bad_extract_focus_is_a_clear_error(tmp_path):
    config = tmp_path / "narrascope.toml"
    config.write_text('[extract]\nfavor = "speed"\n')
    proc = run_cli("--config", str(config), "process", db=tmp_path / "n.duckdb", check=False)
    assert proc.returncode == 1 and "unknown extract favor 'speed'" in proc.stderr


def test_a_misspelt_section_or_crawl_key_is_refused_not_ignored(tmp_path):
    """An operator's typo outside the stage tables went unnoticed: the run went on with the
    default (found by a helper's operations pass)."""
    config = tmp_path / "narrascope.toml"
    run_cli("init", db=tmp_path / "n.duckdb")
    for text, said in [
        ('[crawl]\nmax_duraton = "5m"\n', "[crawl] has unknown key(s) ['max_duraton']; known: "),
        ("[pipeline]\nbogus = 1\n", "[pipeline] has unknown key(s) ['bogus']; known: stages, "),
        ("[bogus_section]\nx = 1\n", "unknown section(s) or key(s) ['bogus_section']; known: "),
        ("crawl = 5\n", "'crawl' must be a table ([crawl]), not int"),
        ("sources = 5\n", "'sources' must be a path to a sources file (a string, not empty)"),
        # before: "[Errno 21] Is a directory: '.'" where the sources were read
        ('sources = ""\n', "'sources' must be a path to a sources file (a string, not empty)"),
        ("garbage [[[\n", "Expected '=' after a key"),  # once, not "file: file: ..."
    ]:
        config.write_text(text)
        for command in ("process", "status"):
            proc = run_cli("--config", str(config), command, db=tmp_path / "n.duckdb",
                           check=False)  # fmt: skip
            assert proc.returncode == 1 and f"error: {config}: {said}" in proc.stderr, proc.stderr
            assert proc.stderr.count(str(config)) == 1 and "Traceback" not in proc.stderr
    config.write_text('sources = "s.toml"\n[crawl]\ntimeout = 10\n[pipeline]\nbatch_size = 8\n')
    proc = run_cli("--config", str(config), "process", db=tmp_path / "n.duckdb", check=False)
    assert "unknown" not in proc.stderr and "must be" not in proc.stderr
    assert proc.returncode == 0  # past the config


def test_run_names_a_mistake_in_any_table_before_it_crawls(tmp_path):
    """``run`` crawled first (up to its whole time) and only then built the stages, whose
    error did not name the file (found by a helper's configuration review)."""
    sources = tmp_path / "sources.toml"
    sources.write_text("")
    config = tmp_path / "narrascope.toml"
    db = tmp_path / "n.duckdb"
    for text, said in [
        ('[langid]\nmethd = "x"\n', "[langid] has unknown key(s) ['methd']"),
        ('[pipeline]\nstages = ["extract", "bogus"]\n', "unknown stage(s) ['bogus']"),
        ('[process]\nengine = "x"\n', "[process] engine must be one of local, "),
        ("[cluster]\nthreshold = 1.5\n", "threshold"),
    ]:
        config.write_text(text)
        proc = run_cli("--config", str(config), "run", "--sources", str(sources), db=db,
                       check=False)  # fmt: skip
        assert proc.returncode == 1 and f"error: {config}: " in proc.stderr, proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr
        assert "crawl" not in proc.stdout and not db.exists()  # nothing crawled, no store
    config.write_text("")
    proc = run_cli("--config", str(config), "run", "--sources", str(sources), db=db)
    assert "crawl ok" in proc.stdout and "no source listed a page" in proc.stdout


def test_the_readmes_configuration_is_a_configuration_narrascope_takes(tmp_path):
    """The README's `narrascope.toml` (every key at its default) passes every check a command
    makes of the file, and of the sources file it shows: a user can start from either."""
    from crawlers.sources import load_sources
    from pipeline.alerts import AlertSettings
    from pipeline.config import DEFAULTS, load_config
    from pipeline.stages import build_stages
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") :]
    config, sources = (part.split("```", 1)[0] for part in section.split("```toml\n")[1:3])
    (tmp_path / "narrascope.toml").write_text(config)
    (tmp_path / "sources.toml").write_text(sources)
    settings = load_config(tmp_path / "narrascope.toml")
    assert settings["crawl"] == DEFAULTS["crawl"] and settings["pipeline"] == DEFAULTS["pipeline"]
    assert [s.name for s in build_stages(None, settings)] == DEFAULTS["pipeline"]["stages"]
    assert AlertSettings.from_config(settings) == AlertSettings()
    assert load_sources(tmp_path / "sources.toml")
