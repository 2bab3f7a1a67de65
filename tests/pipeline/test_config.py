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
