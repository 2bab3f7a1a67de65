"""Translated copies told from two stories on one topic by their sentences (pipeline/aligned.py).

A Russian piece on a bridge closed for repairs, its Ukrainian translation, and a Ukrainian
follow-up on the same closure (traffic jams on the detour: the same town, bridge and river,
another story), written for this test. The follow-up's whole-text cosine with the piece is
0.898, above the raw threshold (0.88): as the only Ukrainian document, the rules before linked
it as a translated copy. Of its sentences none has a counterpart in the piece, and of the
translation's, all do."""

import numpy as np
import pytest

from pipeline.aligned import Aligner, Settings, aligned_share, sentences
from pipeline.embedders import shared_embedder
from storage import connect
from tests.conftest import import_jsonl, run_cli

PIECE = (
    "Мост через Вязьму в Заречном закроют на ремонт до весны",
    (
        "Городской совет Заречного решил закрыть старый мост через Вязьму на капитальный ремонт. "
        "Работы начнутся в понедельник и продлятся не меньше четырёх месяцев. "
        "Инженеры нашли трещины в двух опорах моста, построенного в 1968 году. "
        "На время ремонта автобусы пойдут в объезд через северную дамбу, что добавит к поездке около двадцати минут. "
        "Пешеходам откроют временный понтонный переход возле рынка. "
        "Ремонт обойдётся городу в 310 миллионов рублей, половину суммы выделит область. "
        "Жители соседних улиц жалуются, что о закрытии их предупредили всего за неделю. "
        "Мэр Ольга Сизова пообещала, что движение по мосту восстановят до начала паводка."
    ),
)
TRANSLATION = (
    "Міст через Вязьму в Зарічному закриють на ремонт до весни",
    (
        "Міська рада Зарічного вирішила закрити старий міст через Вязьму на капітальний ремонт. "
        "Роботи почнуться в понеділок і триватимуть щонайменше чотири місяці. "
        "Інженери знайшли тріщини у двох опорах мосту, збудованого в 1968 році. "
        "На час ремонту автобуси їздитимуть в обхід через північну дамбу, що додасть до поїздки близько двадцяти хвилин. "
        "Для пішоходів відкриють тимчасовий понтонний перехід біля ринку. "
        "Ремонт коштуватиме місту 310 мільйонів рублів, половину суми виділить область. "
        "Мешканці сусідніх вулиць скаржаться, що про закриття їх попередили лише за тиждень. "
        "Мерка Ольга Сизова пообіцяла, що рух мостом відновлять до початку повені."
    ),
)
FOLLOW_UP = (
    "Після закриття мосту в Зарічному на північній дамбі утворюються затори",
    (
        "Другий тиждень після закриття мосту через Вязьму водії Зарічного стоять у заторах на північній дамбі. "
        "Уранці черга автомобілів тягнеться від заправки до самого ринку. "
        "Перевізники скаржаться, що автобуси запізнюються на пів години і пасажири пересідають на таксі. "
        "Міська рада пообіцяла поставити на дамбі регулювальників і змінити світлофори на перехресті з Лісовою. "
        "Підприємці з правого берега кажуть, що покупців на ринку поменшало майже вдвічі. "
        "Понтонним переходом щодня користуються кілька тисяч людей, і біля нього не вистачає освітлення. "
        "Депутати опозиції вимагають оприлюднити графік ремонтних робіт і кошторис. "
        "У мерії відповідають, що підрядник працює за планом і міст відкриють навесні."
    ),
)


def test_sentences_end_where_a_script_without_case_ends_them():
    """The end of a sentence is its mark and a space, whatever letter follows: Arabic has no
    capitals, and a splitter that asked for one saw a whole Arabic article as one sentence."""
    arabic = "أعلنت البلدية إغلاق الجسر القديم للصيانة. ستستمر الأعمال أربعة أشهر على الأقل."
    assert len(sentences(arabic)) == 2
    assert len(sentences("市议会决定关闭旧桥进行维修。工程将持续至少四个月。")) == 0  # too short
    assert sentences("Фото: ТАСС.\nГородской совет решил закрыть мост на ремонт.") == [
        "Городской совет решил закрыть мост на ремонт."
    ]


def test_a_script_that_marks_no_sentence_end_is_not_split_and_not_checked():
    """Thai marks no sentence end: each paragraph was one "sentence", with no single
    counterpart among an English translation's sentences, and a true translation was refused
    (share 0.0). Such a text is not split, so not checked; Urdu's ۔ and the other scripts'
    marks end sentences; and texts one of which has over 3 times the other's sentences are not
    checked, before the model is asked for (a review of the check)."""
    thai = "\n".join(["รัฐบาลประกาศปิดสะพานเก่าเพื่อซ่อมแซมเป็นเวลาสี่เดือน ผู้โดยสารต้องใช้ทางเลี่ยง"] * 4)
    assert sentences(thai) == []
    urdu = "شہر کی کونسل نے پرانا پل مرمت کے لیے بند کر دیا۔ کام کم از کم چار ماہ جاری رہے گا۔"
    assert len(sentences(urdu)) == 2
    one_a_line = "Городской совет решил закрыть мост на ремонт.\nРаботы продлятся четыре месяца."
    assert len(sentences(one_a_line)) == 2  # a sentence a line is split, by its lines

    def no_model():
        raise AssertionError("the model was loaded")

    aligner = Aligner(no_model)
    assert aligner.share("a", PIECE[1], "th", thai) is None
    two = " ".join(sentences(FOLLOW_UP[1])[:2])  # too few sentences
    assert aligner.share("a", PIECE[1], "c", two) is None


def test_the_lookup_reads_every_copy_tied_as_nearest_and_only_rows_dated_near():
    """The stage links a translation to the nearest document in a language dated within
    window_days of it, ties going by its own order: the lookup reads the texts of those it may
    take. Before a review, it read the 3 nearest over the whole batch window by row order, and
    where the stage took a fourth (one of 5 exact copies; or the nearest within its own dates),
    the pair was linked unchecked."""
    from storage.outputs.dedup import CopyCandidates, VectorWindow
    from storage.outputs.dedup_texts import translation_rows

    base = np.eye(8, dtype=np.float32)[0]
    copies = [base] * 5  # one piece on five sites: one vector
    vectors = np.asarray([base, *copies, base], dtype=np.float32)  # "old": as near, dated far
    ids = ["en", "f1", "f2", "f3", "f4", "f5", "old"]
    day = 86400.0
    window = VectorWindow(ids, ["en", "fr", "fr", "fr", "fr", "fr", "fr"], [100] * 7, vectors,
                          np.asarray([40 * day] * 6 + [0.0]), np.ones(7, dtype=bool))  # fmt: skip
    out = CopyCandidates(vectors={"en": base.tolist()}, window=window)
    rows = translation_rows(out, 0.88, 30)
    assert [ids[r] for r in rows] == ["f1", "f2", "f3", "f4", "f5"]  # all tied; not "old"


def test_a_translation_aligns_and_a_story_on_the_same_topic_does_not():
    aligner = Aligner(lambda: shared_embedder("e5-small"))
    text = {"piece": PIECE[1], "translation": TRANSLATION[1], "follow-up": FOLLOW_UP[1]}
    share = {other: aligner.share("piece", text["piece"], other, text[other])
             for other in ("translation", "follow-up")}  # fmt: skip
    assert share["translation"] >= 0.8 and share["follow-up"] <= 0.1, share
    assert aligner.translates("piece", text["piece"], "translation", text["translation"])
    assert not aligner.translates("piece", text["piece"], "follow-up", text["follow-up"])
    # two sentences tell nothing: not checked, so not refused
    short = " ".join(sentences(FOLLOW_UP[1])[:2])
    assert aligner.share("piece", text["piece"], "short", short) is None
    assert aligner.translates("piece", text["piece"], "short", short)
    # each of the shorter text's sentences is weighed: the share is of rows, not of cells
    rows = np.eye(4, 8, dtype=np.float32)
    assert aligned_share(rows, np.eye(8, dtype=np.float32), Settings.gap) == 1.0
    assert aligned_share(rows, np.ones((8, 8), dtype=np.float32) / 8**0.5, Settings.gap) == 0.0


STAGES = [w for s in ("extract", "langid", "embed", "dedup") for w in ("--stage", s)]


def links(db) -> list[tuple]:
    with connect(db, read_only=True) as con:
        return con.execute(
            "SELECT l.lang, m.lang, c.kind FROM copy_links c "
            "JOIN v_documents l ON l.doc_id = c.doc_id "
            "JOIN v_documents m ON m.doc_id = c.other_doc_id ORDER BY 1"
        ).fetchall()


@pytest.mark.slow
def test_the_dedup_stage_links_a_translation_and_not_a_follow_up(tmp_path):
    docs = [{"url": f"https://site-{i}.example/news/{i}", "title": title, "text": text,
             "published_at": f"2026-11-0{i + 1}T10:00:00Z"}
            for i, (title, text) in enumerate((PIECE, FOLLOW_UP, TRANSLATION))]  # fmt: skip
    follow = tmp_path / "follow.duckdb"
    import_jsonl(tmp_path, follow, docs[:2])
    run_cli("process", *STAGES, "--no-progress", db=follow)
    assert links(follow) == []
    # the rules before the sentence check: the follow-up was the piece's translated copy
    before = tmp_path / "before.toml"
    before.write_text("[dedup]\ntranslated_share = 0\n")
    run_cli("--config", str(before), "process", "--stage", "dedup", "--force", "--no-progress",
            db=follow)  # fmt: skip
    assert links(follow) == [("uk", "ru", "translated")]
    translated = tmp_path / "translated.duckdb"
    import_jsonl(tmp_path, translated, [docs[0], docs[2]], name="t.jsonl")
    run_cli("process", *STAGES, "--no-progress", db=translated)
    assert links(translated) == [("uk", "ru", "translated")]
    with connect(translated, read_only=True) as con:  # the stage version that checks
        assert con.execute(
            "SELECT DISTINCT stage_version FROM stage_state WHERE stage = 'dedup'"
        ).fetchall() == [("2",)]


def test_a_gap_of_zero_is_refused_rather_than_a_check_that_passes_every_pair():
    from pipeline.dedup import DedupStage

    with pytest.raises(ValueError, match="translated_gap must be above 0"):
        DedupStage(translated_gap=0)
    assert DedupStage(translated_share=0)._aligner is None  # the way to turn it off
