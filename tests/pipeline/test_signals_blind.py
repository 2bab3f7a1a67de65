"""The signals stage on the blind set (bench/data/signals-blind/items.jsonl: 72 machine-written
news texts with one chatbot leftover each, 60 of them in the six promised languages, and 50
human texts written to look like one), held to what was measured after the rules were widened
for the misses the set showed (bench/signals_blind.py prints the whole report)."""

from bench.signals_blind import PROMISED, load, report, run, summary
from pipeline.signals import load_rules

ROWS = run(load())
SUMMARY = summary(ROWS)
# machine-written documents decided at the threshold, of 10 each; the misses left are a
# refusal or cutoff remark in the body (0.75: README, such a remark needs another signal)
RECALL = {"en": 9, "ru": 8, "uk": 9, "de": 9, "fr": 9, "es": 9}


def family_of(hit_rule: str, rule_family: dict) -> str:
    return "wordcount" if hit_rule == "word-count" else rule_family[hit_rule]


def test_blind_set_recall_in_the_promised_languages_and_no_human_text_flagged():
    print("\n" + report(SUMMARY, misses=True))
    assert len(ROWS) == 122 and SUMMARY["human"] == 50 and SUMMARY["promised"][1] == 60
    assert SUMMARY["false_positives"] == []
    assert {lang: SUMMARY["by_lang"][lang][0] for lang in PROMISED} == RECALL
    # the rules in pl, it, pt, tr, kk and be were written after these misses (not blind); the
    # Kazakh miss left is a refusal in the body (0.75), which needs another signal
    others = {lang: SUMMARY["by_lang"][lang][0] for lang in ("pl", "it", "pt", "tr", "kk", "be")}
    assert others == {"pl": 2, "it": 2, "pt": 2, "tr": 2, "kk": 1, "be": 2}
    for family in ("offer", "preamble", "placeholder", "prompt", "wordcount"):
        caught, of = SUMMARY["by_family_promised"][family]
        assert caught == of, family


def test_every_leftover_in_the_promised_languages_is_found_by_its_family():
    """Each machine-written text there has a hit of its own family, outside quotes; the ones
    not decided score 0.75 (a refusal or cutoff in the body) and no human text reaches it."""
    rule_family = {r.id: r.family for r in load_rules()}
    for row in ROWS:
        if row["label"] != "machine" or row["lang"] not in PROMISED:
            continue
        families = {family_of(rule, rule_family) for rule, _, quoted, _ in row["hits"]
                    if not quoted}  # fmt: skip
        assert row["family"] in families, (row["id"], row["hits"])
        if not row["flagged"]:
            assert row["family"] in ("refusal", "cutoff") and row["score"] == 0.75, row["id"]
    assert max(r["score"] for r in ROWS if r["label"] == "human") < 0.75
