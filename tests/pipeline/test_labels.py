"""Narrative labels: content words in every language, English labels with the original kept."""

import re

import pytest

from crawlers.demo.server import load_articles, paragraphs
from pipeline import argos
from pipeline.labels import terms
from pipeline.runner import run_stages
from pipeline.stages import build_stages
from storage import connect
from tests.conftest import import_jsonl

ARTICLES = {a["slug"]: a for a in load_articles()}
CYRILLIC = re.compile("[а-яёіїєґ]", re.IGNORECASE)
# Without an embedding model: copies by MinHash, narratives by character n-grams (fast).
WORDS_ONLY = {"dedup": {"translated": False}, "cluster": {"vectors": "words"}}
WORDS_STAGES = ["extract", "langid", "translate", "dedup", "cluster"]

# (language, text, function words it must lose, content words it must keep)
SENTENCES = [
    (
        "ru",
        "Министр заявил, что переговоры о перемирии будут продолжены, если Запад "
        "снимет санкции, которые были введены после выборов.",
        {"что", "будут", "если", "которые", "были", "после"},
        {"министр", "переговоры", "перемирии", "санкции", "выборов"},
    ),
    (
        "uk",
        "Міністр заявив, що переговори про перемир'я будуть продовжені, якщо Захід "
        "зніме санкції, які були запроваджені після виборів.",
        {"будуть", "якщо", "які", "були", "після"},
        {"міністр", "переговори", "санкції", "виборів"},
    ),
    (
        "de",
        "Der Minister sagte, dass die Verhandlungen über einen Waffenstillstand "
        "fortgesetzt werden, wenn der Westen die Sanktionen aufhebt, die nach der Wahl "
        "verhängt worden waren.",
        {"der", "die", "dass", "über", "einen", "werden", "wenn", "nach"},
        {"minister", "verhandlungen", "waffenstillstand", "sanktionen", "wahl"},
    ),
    (
        "fr",
        "Le ministre a déclaré que les négociations sur le cessez-le-feu seraient "
        "poursuivies si l'Occident levait les sanctions qui avaient été imposées après "
        "les élections.",
        {"les", "que", "sur", "qui", "avaient", "été", "après"},
        {"ministre", "négociations", "sanctions", "élections"},
    ),
    (
        "pl",
        "Minister powiedział, że negocjacje w sprawie rozejmu będą kontynuowane, jeśli "
        "Zachód zniesie sankcje, które zostały nałożone po wyborach.",
        {"będą", "jeśli", "które"},
        {"minister", "negocjacje", "rozejmu", "sankcje", "wyborach"},
    ),
    (
        "es",
        "El ministro declaró que las negociaciones sobre el alto el fuego continuarían "
        "si Occidente levanta las sanciones que fueron impuestas después de las elecciones.",
        {"las", "que", "sobre", "fueron", "después"},
        {"ministro", "negociaciones", "sanciones", "elecciones"},
    ),
    (
        "tr",
        "Bakan, Batı yaptırımları kaldırırsa ateşkes görüşmelerinin devam edeceğini söyledi; "
        "bazı uzmanlar ise seçimlerden sonra bunun nasıl olacağını ve onların tutumunun ne "
        "olacağını sorguluyor.",
        {"bazı", "ise", "nasıl", "onların"},
        {"bakan", "yaptırımları", "ateşkes", "görüşmelerinin", "uzmanlar", "seçimlerden"},
    ),
    (
        "en",
        "The minister said that the ceasefire talks would go on if the West lifted the "
        "sanctions which had been imposed after the elections: the war is not over.",
        {"the", "said", "that", "would", "which", "had", "been", "after", "not"},
        {"minister", "ceasefire", "talks", "sanctions", "elections", "war"},
    ),
]


@pytest.mark.parametrize("lang,text,function,content", SENTENCES, ids=[s[0] for s in SENTENCES])
def test_terms_drop_function_words(lang, text, function, content):
    got = {word for word, _ in terms(text)}
    assert not got & function, f"{lang}: function words kept: {got & function}"
    assert content <= got, f"{lang}: content words lost: {content - got}"


# function words the `stop-words` lists lack, seen among narrative keywords on real news
# (SemEval-2022 articles, the demo); spaCy's lists add them, and are Serbian's and Macedonian's
MISSING = [
    (
        "de",
        "Wegen der Sanktionen wurde die Pipeline bereits seit zwei Jahren nicht mehr genutzt, "
        "sagte der Minister; danach gibt es kaum Gas.",
        {"wegen", "wurde", "bereits", "seit", "mehr", "sagte", "danach", "gibt"},
        {"sanktionen", "pipeline", "minister", "gas"},
    ),
    (
        "tr",
        "Bakanlık tarafından yapılan açıklamaya göre yaptırımlar geçici olarak sadece enerji "
        "değil, ayrıca bankacılık sektörünü de etkiliyor.",
        {"tarafından", "yapılan", "göre", "sadece", "değil", "ayrıca", "olarak"},
        {"bakanlık", "açıklamaya", "yaptırımlar", "enerji", "bankacılık", "sektörünü"},
    ),
    (
        "ar",
        "وصل وزير الخارجية إلى موسكو لإجراء محادثات حول العقوبات أكثر من يومين",
        {"إلى", "أكثر"},
        {"وزير", "الخارجية", "موسكو", "محادثات", "العقوبات"},
    ),
    (
        "ru",
        "Среди причин кризиса министр назвал санкции, которые сразу ударили по экспорту.",
        {"среди", "сразу", "которые"},
        {"причин", "кризиса", "министр", "санкции", "экспорту"},
    ),
    (
        "sr",
        "Министар је рекао да ће преговори о примирју бити настављени ако Запад укине "
        "санкције које су уведене након избора.",
        {"након", "ако", "које", "бити"},  # the last two from spaCy's Croatian list
        {"министар", "преговори", "примирју", "запад", "санкције", "избора"},
    ),
    (
        "sr",  # in Latin script: spaCy's Serbian list is Cyrillic only
        "Ministar je rekao da će pregovori o primirju biti nastavljeni ako Zapad ukine "
        "sankcije koje su uvedene posle izbora.",
        {"posle", "ako", "koje", "biti"},
        {"ministar", "pregovori", "primirju", "zapad", "sankcije", "izbora"},
    ),
    (
        "mk",
        "Министерот изјави дека преговорите за примирје ќе продолжат доколку Западот ги "
        "укине санкциите што беа воведени по изборите.",
        {"дека", "доколку", "што", "беа"},
        {"министерот", "преговорите", "примирје", "санкциите", "изборите"},
    ),
]


@pytest.mark.parametrize("lang,text,function,content", MISSING, ids=[s[0] for s in MISSING])
def test_terms_drop_the_function_words_the_package_lacks(lang, text, function, content):
    got = {word for word, _ in terms(text, lang=lang)}
    assert not got & function, f"{lang}: function words kept: {got & function}"
    assert content <= got, f"{lang}: content words lost: {content - got}"


def test_terms_judge_each_alphabet_by_its_own_language():
    # German "war" is a function word (was); in English it is the point of the sentence
    assert {w for w, _ in terms("Der Krieg war lang, und die Sanktionen wurden verlängert.")} == {
        "krieg", "sanktionen", "verlängert",
    }  # fmt: skip
    assert dict(terms("War, war and more war: the war in Ukraine.")) == {"war": 4, "ukraine": 1}
    # a Russian article quoting an English sentence loses the function words of both
    quoted = "Министр сказал, что переговоры сорваны. He said that the talks were over."
    assert {w for w, _ in terms(quoted)} == {"министр", "переговоры", "сорваны", "talks"}


# Turkish news: capital İ starts many names (İstanbul, İzmir, İçişleri, İran)
TURKISH = [
    {
        "url": "https://tr.example/kar-1",
        "title": "İstanbul'da kar yağışı: İçişleri Bakanlığı sürücüleri uyardı",
        "text": "İstanbul'da etkili olan kar yağışı nedeniyle İçişleri Bakanlığı sürücüleri "
        "uyardı. İstanbul ve İzmir'de okullar tatil edildi. İstanbul Valiliği kar yağışının "
        "yarın da süreceğini açıkladı. İzmir'de ulaşımda aksamalar yaşandı.",
    },
    {
        "url": "https://tr.example/kar-2",
        "title": "İstanbul ve İzmir'de kar yağışı: okullar tatil",
        "text": "İstanbul'da etkili olan kar yağışı nedeniyle İçişleri Bakanlığı sürücüleri "
        "uyardı. İstanbul ve İzmir'de okullar tatil edildi. İstanbul'da kar yağışının "
        "yarın akşama kadar süreceği bildirildi.",
    },
]


def test_turkish_capital_i_keeps_whole_words(tmp_path):
    """A narrative of Turkish articles is labelled "istanbul", "izmir", "içişleri": not the
    fragments "stanbul", "zmir", "çişleri" (lower-casing İ gives i and a combining dot)."""
    db = tmp_path / "tr.duckdb"
    import_jsonl(tmp_path, db, TURKISH)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        n = narrative_of(con, TURKISH[0]["url"])
    assert n["documents"] == 2 and n["langs"] == ["tr"]
    shown = set(n["keywords"]) | set(n["keywords_original"])
    assert {"istanbul", "izmir"} <= shown, n["keywords"]
    assert not shown & {"stanbul", "zmir", "çişleri"}, n["keywords"]
    assert "içişleri" in {w for w, _ in terms(TURKISH[0]["text"])}


APOSTROPHES = [
    {
        "url": "https://uk.example/1",
        "title": "Перемир'я на сході: м'яка позиція чи пам'ять про минуле",
        "text": "Перемир'я на сході знову під загрозою. Пам'ять про минулі перемир'я "
        "не дає підстав для оптимізму, а об'єкти інфраструктури залишаються під "
        "обстрілом. Перемир'я оголосили з дев'ятої ранку.",
    },
    {
        "url": "https://uk.example/2",
        "title": "Перемир'я на сході під загрозою",
        "text": "Перемир'я на сході знову під загрозою: об'єкти інфраструктури під "
        "обстрілом, пам'ять про минулі перемир'я не дає підстав для оптимізму. "
        "Перемир'я діє з дев'ятої ранку.",
    },
    {
        "url": "https://tr.example/1",
        "title": "Ankara'dan Brüksel'e yanıt: Türkiye'nin AB'deki üyelik süreci",
        "text": "Türkiye'nin AB'deki üyelik süreci Ankara'dan gelen açıklamayla yeniden "
        "gündemde. Brüksel'deki toplantıda Türkiye'nin talepleri ele alındı. "
        "Ankara'daki yetkililer Türkiye'nin kararlı olduğunu söyledi.",
    },
    {
        "url": "https://tr.example/2",
        "title": "Türkiye'nin AB üyelik süreci Brüksel'de konuşuldu",
        "text": "Türkiye'nin AB'deki üyelik süreci Brüksel'deki toplantıda ele alındı. "
        "Ankara'dan yapılan açıklamada Türkiye'nin 2005'ten beri kararlı olduğu, "
        "2023'ten 2024'e dek süreci 2025'ten önce tamamlamak için bir plan yaptığı vurgulandı.",
    },
]


def test_apostrophes_keep_whole_words(tmp_path):
    """Ukrainian words with an apostrophe are keywords whole ("перемирʼя", not "перемир");
    Turkish case endings after a name's apostrophe are not keywords ("nin", "dan", "deki")."""
    db = tmp_path / "a.duckdb"
    import_jsonl(tmp_path, db, APOSTROPHES)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        uk = narrative_of(con, APOSTROPHES[0]["url"])
        tr = narrative_of(con, APOSTROPHES[2]["url"])
        tr_own = words_of(con, "doc_terms", APOSTROPHES[3]["url"])
    assert uk["documents"] == 2 and tr["documents"] == 2
    assert "перемирʼя" in uk["keywords"], uk["keywords"]
    assert not {"перемир", "пам", "ять", "єкти"} & set(uk["keywords"]), uk["keywords"]
    assert {"türkiye", "ankara"} <= set(tr["keywords"]), tr["keywords"]
    assert not {"nin", "dan", "deki", "daki"} & set(tr["keywords"]), tr["keywords"]
    assert "kararlı" in tr_own and not {"nin", "dan", "ten"} & tr_own, tr_own  # "2005'ten"


# Short Turkish posts whose Latin words the English list holds as many of ("test", "tip",
# "can": life) as the Turkish list ("bir" a, "ile" with)
TURKISH_TESTS = [
    {
        "url": "https://tr.example/test-1",
        "title": "Koronavirüs test sonuçları açıklandı",
        "text": "Sağlık Bakanlığı yeni tip virüs ile ilgili test kapasitesini artırdı; "
        "test sonuçları açıklandı, can kaybı bir haftada yükseldi.",
    },
    {
        "url": "https://tr.example/test-2",
        "title": "Koronavirüs: test kapasitesi artırıldı",
        "text": "Sağlık Bakanlığı yeni tip virüs ile ilgili test kapasitesini artırdı; "
        "can kaybı bir haftada yükseldi, test sonuçları yarın açıklanacak.",
    },
]


def test_a_documents_own_language_decides_its_function_words(tmp_path):
    """The keywords of short Turkish posts leave out Turkish function words ("bir", "ile")
    and keep "test", "tip" and "can", which are English stop words."""
    db = tmp_path / "t.duckdb"
    import_jsonl(tmp_path, db, TURKISH_TESTS)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        n = narrative_of(con, TURKISH_TESTS[0]["url"])
        own = words_of(con, "doc_terms", TURKISH_TESTS[0]["url"])
    assert n["documents"] == 2 and n["langs"] == ["tr"]
    assert not {"bir", "ile"} & set(n["keywords"]), n["keywords"]
    assert "test" in n["keywords"], n["keywords"]
    assert {"test", "tip", "can"} <= own and not {"bir", "ile"} & own, own


def doc(slug: str, url: str | None = None, **fields) -> dict:
    a = ARTICLES[slug]
    out = {
        "url": url or f"https://{a['lang']}.example/{slug}",
        "title": a["title"],
        "text": "\n".join(paragraphs(a)),
        "published_at": a["date"],
    }
    return {**out, **fields}


def narrative_of(con, url: str) -> dict:
    cur = con.execute(
        "SELECT n.* FROM v_narratives n JOIN v_documents d USING (narrative_id) WHERE d.url = ?",
        [url],
    )
    return dict(zip([c[0] for c in cur.description], cur.fetchone(), strict=True))


def words_of(con, table: str, url: str) -> set[str]:
    """A document's words: its own (doc_terms) or its translation's (translation_terms)."""
    return {
        term
        for (term,) in con.execute(
            f"SELECT term FROM {table} JOIN v_documents USING (doc_id) WHERE url = ?", [url]
        ).fetchall()
    }


def test_russian_narrative_is_labelled_from_its_translations(tmp_path, argos_dir, tiny_packages):
    """A Russian document clustered before a ru->en model was installed has a Russian label;
    once `models install` has it translated, the label follows the translation although the
    cluster stage does not redo it. A copy translated before it was clustered adds its own
    translation's words. The original label stays in the Russian words of both."""
    db = tmp_path / "n.duckdb"
    first = doc("sankcii-i-golod-v-afrike")
    import_jsonl(tmp_path, db, [first])
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        before = narrative_of(con, first["url"])
        assert not words_of(con, "translation_terms", first["url"])
    own = {w for w, _ in terms(first["text"])}
    assert before["keywords"] and set(before["keywords"]) <= own  # no translation: Russian
    assert before["keywords_original"] == before["keywords"]

    argos.install_file(tiny_packages["ru-en"])
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))  # translates it; clusters nothing
    with connect(db, read_only=True) as con:
        later = narrative_of(con, first["url"])
        translated = words_of(con, "translation_terms", first["url"])
        assert words_of(con, "doc_terms", first["url"]) == own
    assert later["narrative_id"] == before["narrative_id"]
    assert translated and not translated & own
    assert later["keywords"] and set(later["keywords"]) <= translated
    assert later["keywords_original"] == before["keywords"]

    copy = doc("sankcii-i-golod-v-afrike", "https://mirror.example/sankcii")
    copy["text"] = "\n".join(paragraphs(ARTICLES["sankcii-i-golod-v-afrike"])[:-1])
    import_jsonl(tmp_path, db, [copy], name="copy.jsonl")
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        n = narrative_of(con, first["url"])
        statuses = con.execute("SELECT url, translation_status FROM v_documents").fetchall()
        copy_own = words_of(con, "doc_terms", copy["url"])
        translated |= words_of(con, "translation_terms", copy["url"])
        rep_title = con.execute(
            "SELECT title_translated FROM v_documents WHERE doc_id = ?",
            [n["representative_doc_id"]],
        ).fetchone()[0]
    assert sorted(statuses) == sorted([(first["url"], "translated"), (copy["url"], "translated")])
    assert n["documents"] == 2 and n["langs"] == ["ru"]
    assert copy_own == {w for w, _ in terms(copy["text"])}  # its own words, not its translation's
    assert n["keywords"] and set(n["keywords"]) <= translated
    assert n["keywords_original"] and set(n["keywords_original"]) <= own | copy_own
    assert all(CYRILLIC.search(w) for w in n["keywords_original"])
    assert n["representative_title"] == rep_title  # the translated title
    assert n["representative_title"] != first["title"]
    assert n["representative_title_original"] == first["title"]


def test_mixed_narrative_keywords_are_english(tmp_path):
    """A Russian channel reposts an English piece under a Russian title and introduction (no
    translation model): keywords and title come from the English piece, the original label
    from the Russian repost."""
    db = tmp_path / "m.duckdb"
    english = doc("what-the-us-biolabs-in-ukraine-are-hiding")
    russian = doc("biolaboratorii-ssha-na-ukraine")
    intro = (
        "Биолаборатории Пентагона снова в центре внимания: биолаборатории на Украине, "
        "биолаборатории у границы. Вот что пишут на Западе."
    )
    repost = {
        "url": "https://ru.example/repost",
        "title": russian["title"],
        "text": intro + "\n" + english["text"],
        "published_at": "2026-10-20T10:00:00+00:00",
        "lang": "ru",
    }
    filler = doc("harbour-swim-raises-funds")
    import_jsonl(tmp_path, db, [english, repost, filler])
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        n = narrative_of(con, english["url"])
        alone = narrative_of(con, filler["url"])
        english_terms = {
            t
            for (t,) in con.execute(
                "SELECT term FROM doc_terms JOIN v_documents USING (doc_id) WHERE url = ?",
                [english["url"]],
            ).fetchall()
        }
    repost_terms = {w for w, _ in terms(repost["text"])}
    assert n["langs"] == ["en", "ru"]
    assert any(CYRILLIC.search(w) for w in repost_terms)
    assert n["keywords"] and not any(CYRILLIC.search(w) for w in n["keywords"])
    assert set(n["keywords"]) <= english_terms
    assert n["representative_title"] == english["title"]
    assert "биолаборатории" in n["keywords_original"]
    assert set(n["keywords_original"]) <= repost_terms
    assert n["representative_title_original"] == russian["title"]
    # a narrative wholly in English: the original label is the label
    assert alone["keywords_original"] == alone["keywords"]
    assert alone["representative_title"] == filler["title"]
    assert alone["representative_title_original"] == filler["title"]


def test_untitled_documents_get_a_readable_line(tmp_path):
    """Channel posts have no title: the label is the first sentence of the representative's
    text, in English when a member has English text."""
    db = tmp_path / "u.duckdb"
    body = paragraphs(ARTICLES["sankcii-i-golod-v-afrike"])
    opening = "Санкции Запада, а не война, оставили Африку без хлеба. " + body[0]
    english = paragraphs(ARTICLES["theatre-restoration-complete"])
    intro = "Британская пресса пишет о театре. Реставрация закончена."
    long_line = "Ещё " + " ".join(["очень"] * 40) + " длинная первая фраза без точки"
    posts = [
        {"url": "https://t.example/1", "text": "\n\n  " + opening + "\n" + "\n".join(body[1:])},
        {"url": "https://t.example/2", "text": opening + "\n" + "\n".join(body[1:-1])},
        {
            "url": "https://t.example/3",
            "text": long_line + "\n" + "\n".join(paragraphs(ARTICLES["pogoda-pervyy-sneg"])),
        },
        # Russian channels repost an English post with an introduction; the second repost
        # is nearer the narrative's centre than the English post, but not in English
        {"url": "https://t.example/4", "text": intro + "\n" + "\n".join(english), "lang": "ru"},
        {"url": "https://t.example/5", "text": "\n".join(english)},
        {"url": "https://t.example/6", "text": intro + "\n" + "\n".join(english), "lang": "ru"},
    ]
    import_jsonl(tmp_path, db, posts)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        titles = con.execute("SELECT title FROM v_documents").fetchall()
        labels = dict(
            con.execute(
                "SELECT d.url, (n.representative_title, n.representative_title_original) "
                "FROM v_documents d JOIN v_narratives n USING (narrative_id)"
            ).fetchall()
        )
    assert titles == [(None,)] * 6
    first = "Санкции Запада, а не война, оставили Африку без хлеба."
    assert labels["https://t.example/1"] == labels["https://t.example/2"] == (first, first)
    clipped, original = labels["https://t.example/3"]
    assert clipped == original and len(clipped) <= 120 and clipped.endswith("очень…")
    assert long_line.startswith(clipped[:-1])
    english_first = re.match(r".+?[.!?](?=\s|$)", english[0]).group(0)
    assert labels["https://t.example/4"] == labels["https://t.example/5"]
    assert labels["https://t.example/6"] == labels["https://t.example/5"]
    assert labels["https://t.example/5"] == (english_first, "Британская пресса пишет о театре.")


def untitled_labels(tmp_path, firsts: dict[str, str], sep: str) -> dict[str, str]:
    """Each demo article ``slug`` posted untitled, its text ``firsts[slug]``, ``sep`` and the
    article's paragraphs, processed without models: slug -> its narrative's label in the
    members' own language."""
    db = tmp_path / "a.duckdb"
    posts = [
        {"url": f"https://t.example/{slug}", "text": first + sep + "\n".join(paragraphs(ARTICLES[slug]))}
        for slug, first in firsts.items()
    ]  # fmt: skip
    import_jsonl(tmp_path, db, posts)
    run_stages(db, build_stages(WORDS_STAGES, WORDS_ONLY))
    with connect(db, read_only=True) as con:
        rows = con.execute(
            "SELECT d.url, n.representative_title_original "
            "FROM v_documents d JOIN v_narratives n USING (narrative_id)"
        ).fetchall()
    return {url.rsplit("/", 1)[1]: label for url, label in rows}


def test_an_untitled_documents_line_does_not_end_at_an_abbreviation(tmp_path):
    """The first sentence ended at the first '. ' after 20 characters: "The harbour swim
    organised by the U.S." and "Глава клуба сообщил, что в 2024 г." (schema version 36)."""
    firsts = {
        "harbour-swim-raises-funds": "The harbour swim organised by the U.S. consulate and "
        "Mr. Hale raised a record sum on Sunday.",
        "hokkey-nachalo-sezona": "Глава клуба сообщил, что в 2024 г. Ледовый дворец в т.ч. "
        "откроется для болельщиков в 2024.",
        "storm-closes-coast-road": "Police closed the coast road, the council said... Drivers "
        "should avoid it.",
    }
    labels = untitled_labels(tmp_path, firsts, " ")
    assert labels["harbour-swim-raises-funds"] == firsts["harbour-swim-raises-funds"]
    assert labels["hokkey-nachalo-sezona"] == firsts["hokkey-nachalo-sezona"]
    assert labels["storm-closes-coast-road"] == "Police closed the coast road, the council said..."


def test_spacys_lists_are_read_as_data_without_importing_spacy():
    """Importing spaCy takes about 1.9 s, in every process that clusters: its lists are read
    from their files, and are the lists spaCy itself gives."""
    import importlib
    import subprocess
    import sys

    from pipeline import labels

    for code in labels.SPACY_ADDED + labels.SPACY_ONLY:
        module = importlib.import_module(f"spacy.lang.{code}.stop_words")
        assert labels._spacy_stop_words(code) == set(module.STOP_WORDS), code
    probe = (
        "import sys; from pipeline import labels; labels._index(); print('spacy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_untitled_documents_line_does_not_end_at_a_common_abbreviation(tmp_path):
    """After schema version 36 a '.' after a lower-case word of two or three letters, or any
    word of four letters or more, still ended the first sentence before a capital or a number:
    "Ярмарка варенья пройдёт 1 дек.", "Od poniedziałku utrudnienia na ul." (schema version
    43). An acronym at the end of a sentence still ends it ("SIG.")."""
    firsts = {
        "osenniy-festival-varenya": "Ярмарка варенья пройдёт 1 дек. Ледовый дворец откроет "
        "для неё свой холл.",
        "new-cycle-lane-opens": "Od poniedziałku utrudnienia na ul. Marszałkowskiej, tzw. "
        "Nowy Świat zostaje otwarty.",
        "herbstmarkt-in-goerlitz": "Der sog. Herbstmarkt kostet ca. 3000 Euro im Jahr und "
        "zieht viele Besucher an.",
        "library-extends-opening-hours": "La bibliothèque adopte un logiciel de SIG. Les "
        "cartes seront en ligne.",
    }
    labels = untitled_labels(tmp_path, firsts, "\n")
    for slug, first in list(firsts.items())[:3]:
        assert labels[slug] == first
    assert labels["library-extends-opening-hours"] == "La bibliothèque adopte un logiciel de SIG."
