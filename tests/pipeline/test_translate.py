"""Translation: the real argostranslate install and CTranslate2 code paths on tiny packages."""

import json
import re
import socket
import stat
import time
import zipfile
from pathlib import Path

import pytest

from crawlers.demo.server import load_articles, paragraphs
from pipeline import argos, argos_routes
from pipeline.errors import ModelError
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from tests.conftest import LocalSite, import_jsonl, run_cli

RU = [a for a in load_articles() if a["lang"] == "ru"]


def ru_doc(article: dict, url: str | None = None) -> dict:
    return {
        "url": url or f"https://ru.example/{article['slug']}",
        "title": article["title"],
        "text": "\n".join(paragraphs(article)),
    }


def translations(db) -> dict[str, tuple]:
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT v.url, t.status, t.source_lang, t.title, t.text, t.sentences, t.cache_hits, "
            "t.reused_from, t.model_id FROM translations t JOIN document_versions v "
            "USING (doc_id, version)"
        ).fetchall()
    return {r[0]: r[1:] for r in rows}


def test_install_list_remove_and_bad_files(tmp_path, argos_dir, tiny_packages):
    out = run_cli("models", "install-file", str(tiny_packages["ru-en"])).stdout
    assert "installed argos:ru-en@0.0.1-test" in out
    listed = json.loads(run_cli("models", "list", "--format", "json").stdout)
    translation = [m for m in listed if m["kind"] == "translation"]
    assert [(m["model"], m["languages"]) for m in translation] == [
        ("argos:ru-en@0.0.1-test", "ru -> en")
    ]
    embedding = {m["model"]: m for m in listed if m["kind"] == "embedding"}
    assert embedding["e5-small (configured)"]["installed"] == "yes"
    assert [m.model_id for m in argos.installed_models()] == ["argos:ru-en@0.0.1-test"]

    assert "removed argos:ru-en@0.0.1-test" in run_cli("models", "remove", "ru-en").stdout
    assert argos.installed_models() == []
    again = run_cli("models", "remove", "ru-en", check=False)
    assert again.returncode == 1 and "no installed translation model" in again.stderr

    (argos_dir / "half-unpacked").mkdir()  # a broken package folder does not break listing
    assert "no translation models" in run_cli("models", "list").stdout

    garbage = tmp_path / "garbage.argosmodel"
    garbage.write_bytes(b"not a zip at all")
    bad = run_cli("models", "install-file", str(garbage), check=False)
    assert bad.returncode == 1 and "not an Argos package" in bad.stderr
    assert [p.name for p in argos_dir.iterdir()] == ["half-unpacked"]


def test_install_from_index_offline_fails_fast(argos_dir, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ARGOS_PACKAGE_INDEX", f"http://127.0.0.1:{port}/")
    started = time.monotonic()
    proc = run_cli("models", "install", "ru", check=False)
    assert proc.returncode == 1
    assert "cannot reach the Argos package index" in proc.stderr
    assert "models install-file" in proc.stderr
    assert time.monotonic() - started < 30


def test_install_from_a_package_index(argos_dir, tiny_packages, monkeypatch):
    """`models install` reads argostranslate's index format and installs what it links."""
    routes = {}
    site = LocalSite(routes)
    try:
        package = tiny_packages["ru-en"].read_bytes()
        index = [
            {
                "type": "translate",
                "from_code": "ru",
                "to_code": "en",
                "from_name": "Russian",
                "to_name": "English",
                "package_version": "0.0.1-test",
                "argos_version": "1.9",
                "links": [f"{site.base}/ru_en.argosmodel"],
            }
        ]
        routes["/index.json"] = ("application/json", json.dumps(index).encode(), {})
        routes["/ru_en.argosmodel"] = ("application/zip", package, {})
        monkeypatch.setenv("ARGOS_PACKAGE_INDEX", f"{site.base}/")
        out = run_cli("models", "install", "ru", "en").stdout
        assert "installed argos:ru-en@0.0.1-test" in out
        assert "nothing to install" in run_cli("models", "install", "ru").stdout
        missing = run_cli("models", "install", "kk", check=False)
        assert missing.returncode == 1 and "no model for kk->en" in missing.stderr
    finally:
        site.close()


def test_translate_stage_on_a_real_database(tmp_path, argos_dir, tiny_packages):
    argos.install_file(tiny_packages["ru-en"])
    db = tmp_path / "t.duckdb"
    long_ru = RU[0]
    copy = dict(ru_doc(long_ru, "https://mirror.example/copy"))
    copy["text"] = "  " + copy["text"].upper().replace("\n", " \n ") + "  "  # same text, other form
    import_jsonl(
        tmp_path,
        db,
        [
            ru_doc(long_ru),
            copy,
            {"url": "https://en.example/1", "text": "An English piece about the harvest in Kenya."},
            {"url": "https://de.example/1", "text": "Ein deutscher Text über die Ernte in Kenia."},
            {"url": "https://x.example/1", "text": "1234 5678 !!!"},
        ],
    )
    stages = build_stages(["extract", "langid", "translate"], {})
    report = run_stages(db, stages)
    counters = report.stages[2].counters
    got = translations(db)
    status, lang, title, text, sentences, hits, reused, model = got[ru_doc(long_ru)["url"]]
    assert (status, lang, model) == ("translated", "ru", "argos:ru-en@0.0.1-test")
    original = paragraphs(long_ru)
    assert len(text.split("\n")) == len(original)  # paragraph breaks kept
    assert title and sentences > len(original)  # sentence by sentence
    assert got["https://mirror.example/copy"][0] == "translated"
    assert got["https://mirror.example/copy"][6] is not None  # reused the first copy's work
    assert got["https://en.example/1"][0] == "not_needed"
    assert got["https://de.example/1"][:2] == ("no_model", "de")
    assert got["https://x.example/1"][0] == "undetermined"
    assert counters["translated"] == 2 and counters["reused_from_a_copy"] == 1
    with connect(db, read_only=True) as con:  # the original text is untouched
        kept = con.execute(
            "SELECT text FROM v_documents WHERE url = ?", [ru_doc(long_ru)["url"]]
        ).fetchone()[0]
        assert kept == "\n".join(original)
        cached = con.execute("SELECT count(*) FROM translation_cache").fetchone()[0]
    assert cached == sentences  # each distinct sentence cached once

    # keyword search covers the translated text too
    word = next(w for w in text.split() if w.lower() not in kept.lower() and len(w) > 4)
    found = json.loads(run_cli("search", word, "--format", "json", db=db).stdout)
    assert ru_doc(long_ru)["url"] in {h["url"] for h in found}
    # ... as the plain reading of it over v_documents does (an original word with a
    # translated one, titles and texts of both sides, per word the side with more)
    from storage.search import keyword_search
    from tests.storage.test_search import reference

    with connect(db, read_only=True) as con:
        for terms in ([word], [word, kept.split()[0]], ["the"], ["e", "a"]):
            got = keyword_search(con, terms, lang=None, limit=20)
            assert got and got == reference(con, terms, None, 20), terms

    # A later document sharing sentences with stored ones: those come from the cache.
    second = ru_doc(RU[1])
    second["text"] = "\n".join(paragraphs(long_ru)[:2] + paragraphs(RU[1]))
    import_jsonl(tmp_path, db, [second], name="more.jsonl")
    report = run_stages(db, stages)
    c = report.stages[2].counters
    shared = sum(len(stages[2].routes["ru"].sentences(p)) for p in paragraphs(long_ru)[:2])
    assert c["sentences_from_cache"] >= shared and c["sentences"] > c["sentences_from_cache"]


def test_long_sentences_are_split_not_truncated(argos_dir, tiny_packages):
    argos.install_file(tiny_packages["ru-en"])
    route = argos_routes.routes("en", max_chars=200)["ru"]
    run_on = ", ".join(["санкции ударили по урожаю в Африке"] * 60) + "."
    pieces = route.sentences(run_on)
    assert len(pieces) >= len(run_on) // 200
    assert all(len(p) <= 200 for p in pieces)
    assert " ".join(pieces).replace(" ", "") == run_on.replace(" ", "")
    assert all(out for out in route.translate(pieces))


def test_a_sentence_over_the_models_positions_is_translated_in_pieces(argos_dir, tiny_packages):
    """Under the character cap, yet past the model's 256 positions in tokens: the tiny
    package's vocabulary cuts Russian into short pieces (the end-to-end benchmark lost 175 of
    1,000 documents to this before). Translated in pieces, not refused."""
    argos.install_file(tiny_packages["ru-en"])
    route = argos_routes.routes("en")["ru"]
    text = ("Председатель Внешэкономбанка подчеркнул, что взаимозачёты по контрактам "
            "1998-2023 годов (ЦБ, МВФ, ЕБРР) невозможны; ") * 3  # fmt: skip
    assert route.sentences(text) == [text.strip()]  # one unit: within the 400 characters
    tokens = route.packages[0].tokenizer.encode(text)
    assert len(tokens) > 256
    with pytest.raises(RuntimeError, match="position"):  # the model alone refuses it
        route._translator(0).translate_batch([tokens])
    pieces = argos_routes._cut_tokens(tokens, argos_routes.MAX_INPUT_TOKENS)
    assert [t for piece in pieces for t in piece] == tokens  # nothing dropped
    assert all(len(piece) <= argos_routes.MAX_INPUT_TOKENS for piece in pieces)
    assert min(len(piece) for piece in pieces) > len(tokens) // 4  # no word left alone
    assert all(piece[0].startswith(argos_routes.WORD_START) for piece in pieces)
    [out] = route.translate([text])
    assert out


def test_pivot_through_english(argos_dir, tiny_packages):
    argos.install_file(tiny_packages["ru-en"])
    argos.install_file(tiny_packages["en-de"])
    to_german = argos_routes.routes("de")
    assert set(to_german) == {"ru", "en"}
    assert to_german["ru"].model_id == "argos:ru-en@0.0.1-test+argos:en-de@0.0.1-test"
    assert all(to_german["ru"].translate(["Россия готова к переговорам."]))
    assert "de" not in argos_routes.routes("en")  # no de->en package: no route


def test_no_model_is_reported_and_retried_after_install(tmp_path, argos_dir, tiny_packages):
    db = tmp_path / "t.duckdb"
    import_jsonl(
        tmp_path,
        db,
        [
            ru_doc(RU[0]),
            ru_doc(RU[1]),
            {
                "url": "https://de.example/1",
                "text": "Ein deutscher Text über die Ernte in Kenia und anderswo.",
            },
        ],
    )
    first = run_cli(
        "process",
        "--no-progress",
        "--stage",
        "extract",
        "--stage",
        "langid",
        "--stage",
        "translate",
        db=db,
    ).stdout
    assert "3 no model" in first
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert status["translation_needs"] == {"ru": 2, "de": 1}
    assert status["translation_install_command"] == "narrascope models install ru de"
    text = run_cli("status", db=db).stdout
    assert "install with: narrascope models install ru de" in text

    run_cli("models", "install-file", str(tiny_packages["ru-en"]))
    second = run_cli("process", "--no-progress", "--stage", "translate", db=db).stdout
    assert "2 reopened" in second and "2 translated" in second
    status = json.loads(run_cli("status", "--format", "json", db=db).stdout)
    assert status["translation_needs"] == {"de": 1}


def test_an_install_reopens_the_stages_that_waited_whatever_the_command_names(
    tmp_path, argos_dir, tiny_packages
):
    """Embedding the translation: the Russian pieces are rejected by embed while they wait for
    a model. `process --stage translate` after the install reopens those rejections too, and
    the next full run embeds them."""
    db = tmp_path / "t.duckdb"
    config = tmp_path / "c.toml"
    config.write_text('[pipeline]\nstages = ["extract", "langid", "translate", "embed"]\n'
                      '[embed]\ninput = "translation"\n')  # fmt: skip
    import_jsonl(tmp_path, db, [ru_doc(RU[0]), ru_doc(RU[1])])
    first = run_cli("--config", str(config), "process", "--no-progress", db=db).stdout
    assert "2 no model" in first and "2 rejected no translation" in first
    run_cli("models", "install-file", str(tiny_packages["ru-en"]))
    second = run_cli("--config", str(config), "process", "--no-progress", "--stage",
                     "translate", db=db).stdout  # fmt: skip
    assert "2 reopened" in second and "2 translated" in second
    third = run_cli("--config", str(config), "process", "--no-progress", db=db).stdout
    assert re.search(r"^embed v\S+: 2 done, 0 rejected", third, re.M), third
    with connect(db, read_only=True) as con:
        assert (
            con.execute(
                "SELECT count(*) FROM stage_state WHERE stage = 'embed' AND status = 'done'"
            ).fetchone()[0]
            == 2
        )


def test_install_errors_are_model_errors(argos_dir, tmp_path):
    with pytest.raises(ModelError, match="no file"):
        argos.install_file(tmp_path / "missing.argosmodel")


def repacked(tmp_path: Path, package: Path, name: str, extra=(), metadata=None) -> Path:
    """The tiny package rewritten: ``extra`` (ZipInfo or name, bytes) entries added, and
    metadata.json replaced by ``metadata`` (bytes) when given."""
    out = tmp_path / f"{name}.argosmodel"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if metadata is not None and info.filename.endswith("/metadata.json"):
                data = metadata
            dst.writestr(info, data)
        for entry, data in extra:
            dst.writestr(entry, data)
    return out


def test_install_file_refuses_archives_that_escape_or_lie(tmp_path, argos_dir, tiny_packages):
    """A model archive is downloaded, not trusted: entries that would land outside the
    package folder (zip slip), links, and malformed metadata are refused before anything is
    unpacked, with the reason."""
    good = tiny_packages["ru-en"]
    top = zipfile.ZipFile(good).namelist()[0].split("/")[0]
    link = zipfile.ZipInfo(f"{top}/model/shortcut")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    cases = {
        "dotdot": ([(f"{top}/../../evil.sh", b"rm -rf ~")], None, "outside the package"),
        "absolute": ([("/tmp/evil.sh", b"x")], None, "outside the package"),
        "backslash": ([(f"{top}\\..\\evil.sh", b"x")], None, "outside the package"),
        "drive": ([("C:/evil.sh", b"x")], None, "outside the package"),
        "link": ([(link, b"/etc/passwd")], None, "is a link"),
        "list": ((), b"[]", "not an object"),
        "codes": (
            (),
            json.dumps({"from_code": "../ru", "to_code": "en"}).encode(),
            "not language codes",
        ),  # fmt: skip
        "no codes": ((), b"{}", "no from_code/to_code"),
        "not json": ((), b"{from", "not valid JSON"),
    }
    for name, (extra, metadata, reason) in cases.items():
        bad = repacked(tmp_path, good, name.replace(" ", "-"), extra, metadata)
        proc = run_cli("models", "install-file", str(bad), check=False)
        assert proc.returncode == 1 and reason in proc.stderr, (name, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert list(argos_dir.iterdir()) == [], name  # nothing unpacked
    assert not (tmp_path / "evil.sh").exists() and not Path("/tmp/evil.sh").exists()
    # the untouched package still installs
    assert "installed argos:ru-en" in run_cli("models", "install-file", str(good)).stdout
