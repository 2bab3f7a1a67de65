"""`similar` against the SQL macros it promises to match (README, "Similarity and language
bias"): the `similarity` it prints is `doc_similarity(a, b)`, its `score` adds 0.4 x
`anchor_overlap(a, b)`, of the 50 nearest, and a longer `--limit` adds the next ones.

The store is the demo's with six more articles imported and embedded but not yet
language-identified (`process --stage extract --stage embed`): documents of no language,
which search and `similar` centre with the mean over all languages."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import import_jsonl, run_cli

# six short articles on subjects the demo does not cover, in six languages
ARTICLES = [
    ("Harbour cranes idle as dock workers strike",
     "Container traffic at the port of Rotterdam slowed to a crawl on Tuesday as crane "
     "operators walked out over pay. Shipping lines diverted at least twelve vessels to "
     "Antwerp and Hamburg, and the port authority said the backlog could take a week to "
     "clear once work resumes. Talks between the union and the terminal operators are due "
     "to continue on Thursday."),
    ("Bergbahn stellt Betrieb nach Felssturz ein",
     "Nach einem Felssturz oberhalb von Grindelwald hat die Bergbahn ihren Betrieb bis auf "
     "Weiteres eingestellt. Verletzt wurde niemand, doch Geologen wollen den Hang in den "
     "kommenden Tagen mit Drohnen vermessen. Die Gemeinde rechnet mit Einbußen für die "
     "Hotels im Tal, die im Oktober ohnehin weniger Gäste zählen."),
    ("В Казани открыли новую линию трамвая",
     "В Казани в понедельник открылось движение по новой трамвайной линии длиной девять "
     "километров. Она связала спальные районы на востоке города с центром и вокзалом. По "
     "словам мэрии, новые вагоны будут ходить каждые шесть минут в часы пик, а проезд "
     "первую неделю будет бесплатным для всех пассажиров."),
    ("La cosecha de aceituna se adelanta por el calor",
     "Los olivareros de Jaén han comenzado la recogida de la aceituna dos semanas antes de "
     "lo habitual por las altas temperaturas de septiembre. Las cooperativas calculan una "
     "producción un veinte por ciento menor que la del año pasado y advierten de que el "
     "precio del aceite seguirá alto durante el invierno."),
    ("Nowy most na Wiśle otwarty dla ruchu",
     "W Płocku otwarto w sobotę nowy most na Wiśle, który ma odciążyć centrum miasta od "
     "ruchu ciężarówek. Budowa trwała trzy lata i kosztowała ponad czterysta milionów "
     "złotych. Kierowcy mogą już korzystać z obu pasów, a ścieżka rowerowa zostanie "
     "oddana do użytku wiosną przyszłego roku."),
    ("Les vendanges en Bourgogne sous la pluie",
     "En Bourgogne, les vendanges se terminent sous une pluie persistante qui inquiète les "
     "vignerons de la Côte de Beaune. Beaucoup ont dû trier les raisins à la main pour "
     "écarter les grappes touchées par la pourriture. Les rendements devraient rester "
     "proches de la moyenne, mais la qualité sera inégale selon les parcelles."),
]  # fmt: skip


@pytest.fixture(scope="module")
def store(demo_run, tmp_path_factory):
    """The demo's store plus ARTICLES, embedded but not language-identified: (db, their ids)."""
    tmp = tmp_path_factory.mktemp("similar-sql")
    db = tmp / "n.duckdb"
    shutil.copy(demo_run[0], db)
    docs = [
        {"url": f"https://elsewhere.example/{i}", "title": title, "text": text,
         "published_at": f"2026-10-{10 + i:02d}T08:00:00+00:00"}
        for i, (title, text) in enumerate(ARTICLES)
    ]  # fmt: skip
    import_jsonl(tmp, db, docs)
    run_cli("process", "--stage", "extract", "--stage", "embed", "--no-progress", db=db)
    ids = sql(db, "SELECT doc_id FROM documents WHERE canonical_url LIKE '%elsewhere.example%' "
                  "ORDER BY doc_id")  # fmt: skip
    return db, [r["doc_id"] for r in ids]


def sql(db, query: str) -> list[dict]:
    return json.loads(run_cli("sql", query, "--format", "json", db=db).stdout)


def similar(db, doc: str, *args: str) -> list[dict]:
    return json.loads(run_cli("similar", doc, "--format", "json", *args, db=db).stdout)


def test_doc_similarity_of_a_document_of_no_language_is_what_similar_shows(store):
    """A document embedded before its language was identified: `similar` centres it with the
    mean over all languages, and `doc_similarity` subtracted nothing (language_mean gave NULL
    for no language), so the two disagreed: 0.271 in `similar`, 0.841 in SQL for two of these
    articles."""
    db, new = store
    unidentified = sql(db, "SELECT doc_id FROM v_documents WHERE lang IS NULL ORDER BY doc_id")
    assert [r["doc_id"] for r in unidentified] == new
    for doc in new:
        hits = similar(db, doc, "--limit", "100")
        macro = {
            r["doc_id"]: r["s"]
            for r in sql(
                db,
                f"SELECT doc_id, doc_similarity('{doc}', doc_id) AS s "
                f"FROM v_documents WHERE doc_id <> '{doc}'",
            )  # fmt: skip
        }
        off = {h["doc_id"]: (h["similarity"], round(macro[h["doc_id"]], 4)) for h in hits
               if abs(h["similarity"] - macro[h["doc_id"]]) > 1e-4}  # fmt: skip
        print(
            doc,
            len(hits),
            "hits;",
            len(off),
            "differ from doc_similarity, e.g.",
            list(off.items())[:2],
        )
        assert len(hits) > 50 and off == {}


def test_a_limit_of_n_lists_n_rows_when_exact_copies_are_folded(store):
    """A hit's exact copies fold into its row; `similar` picked only max(--limit, 50) rows
    before folding them, so where two of those were exact copies `--limit 50` listed 48 rows
    though 53 texts were there to list."""
    db, new = store
    everything = similar(db, new[0], "--limit", "1000")
    folded = [h for h in everything if h["exact_copies"]]
    print(len(everything), "rows in all,", len(folded), "of them with exact copies folded in")
    assert len(everything) == 53 and len(folded) == 2  # 55 others, two exact copies folded
    for limit in (10, 50, 51, 53):
        rows = similar(db, new[0], "--limit", str(limit))
        print(f"--limit {limit}: {len(rows)} rows")
        assert [h["doc_id"] for h in rows] == [h["doc_id"] for h in everything[:limit]]


def test_search_by_meaning_lists_only_languages_it_can_search(tmp_path):
    """A site's boilerplate (one text at three addresses of a site, rejected by the dedup stage)
    keeps its vector but takes part in no search. Asked for a language whose only documents
    were such pages, `search --semantic --lang it` said there were none in 'it' and then
    listed "it (3)" among the languages with vectors, with counts `similar` did not give."""
    boilerplate = (
        "Voce Regionale è un settimanale indipendente fondato nel 1998 da un gruppo di "
        "insegnanti e agricoltori della valle. Raccontiamo il consiglio comunale, le scuole, "
        "i mercati e il fiume, e pubblichiamo le lettere dei lettori ogni venerdì."
    )
    db = tmp_path / "n.duckdb"
    pages = [{"url": f"https://voce.example/notizie/{i}", "title": f"Notizia {i}",
              "text": boilerplate} for i in range(1, 4)]  # fmt: skip
    pages.append({"url": "https://elsewhere.example/port", "title": ARTICLES[0][0],
                  "text": ARTICLES[0][1]})  # fmt: skip
    import_jsonl(tmp_path, db, pages)
    run_cli("process", "--no-progress", db=db)
    assert len(sql(db, "SELECT doc_id FROM v_rejections WHERE reason = 'not_news'")) == 3
    searched = run_cli("search", "--semantic", "notizie della valle", "--lang", "it", db=db,
                       check=False)  # fmt: skip
    print(searched.stderr.strip())
    assert searched.returncode == 1
    assert "no documents in 'it'" in searched.stderr
    assert searched.stderr.strip().endswith("languages with vectors: en (1)")
    port = sql(db, "SELECT doc_id FROM documents WHERE canonical_url LIKE '%port'")[0]["doc_id"]
    like = run_cli("similar", port, "--lang", "it", db=db, check=False)
    assert like.returncode == 1 and like.stderr.strip().endswith("languages with vectors: en (1)")
