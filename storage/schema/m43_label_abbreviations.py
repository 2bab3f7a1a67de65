"""A narrative's first-sentence label no longer ends at a common abbreviation before a capital.

Schema version 36 let a '.' end an untitled document's first sentence after a lower-case
word of two or three letters ("war.") or any word of four letters or more, where no
lower-case letter follows. So the label of "с 1 дек. Ледовый дворец откроется..." was "с 1
дек.", and "ul. Marszałkowska", "tzw. Nowy Ład", "np. Polska", "sog. Reichsbürger", "vs.
Russia", "Prof. Nowak" and "Sept. 12" ended one too: abbreviations that stand before a
capital or a number and seldom end a sentence. Their dots are now masked while the sentence
end is looked for (``ABBREVIATIONS``, matched whole, lower-case or capitalised) and put back in
the label. Words that are also common sentence-final words stay out of the list: "им"/"im"
(Russian and Polish "them"), "mar" (Spanish "sea"), "ago", "etc", "usw", "и др.", "лист",
"трав". Only the view changes: the labels are computed by it.
"""

from storage.schema.m41_narrative_members_as_placed import V_NARRATIVES as _BEFORE

#: Abbreviations followed by a name, a noun or a number rather than a sentence's end, by
#: language: months; streets, squares and titles; "so-called", "for example", "versus"...
ABBREVIATIONS = (
    # ru, uk: months; street, lane, avenue, square, saint, general, professor, academician,
    # comrade
    "янв|фев|февр|апр|авг|сен|сент|окт|ноя|нояб|дек"
    "|січ|лют|бер|квіт|черв|лип|серп|вер|жовт|груд"
    "|ул|пер|просп|пл|св|ген|проф|акад|тов|вул|пров"
    # en, de, fr, es: months
    "|jan|feb|apr|aug|sep|sept|oct|okt|nov|dec|dez|janv|févr|avr|juil|déc|ene|abr|dic"
    # pl: street, avenue, square, saint, so-called, for example, province, general, professor
    "|ul|al|pl|św|tzw|np|woj|gen|prof"
    # de: or, about, compare, so-called, if need be, including, perhaps, former, born, for
    # example, in particular, plus
    "|bzw|ca|vgl|sog|ggf|inkl|evtl|ehem|geb|bspw|insb|zzgl"
    # en, es, it, fr: versus, approximately, including, compare, approximately, avenue;
    # signor, dottore, avvocato; environ
    "|vs|approx|incl|cf|aprox|av|sig|dott|avv|env"
)


def _pattern(words: str) -> str:
    """The words as one RE2 alternation: lower-case or capitalised (``sog``, ``Sog``), never
    all capitals ("SIG." is an acronym ending a sentence, "Prof." a title)."""
    return "|".join(f"[{w[0]}{w[0].upper()}]{w[1:]}" for w in words.split("|"))


MASK = "\ue000"  # a private-use character: the dot of an abbreviation while the end is sought

_PARA = r"regexp_replace(regexp_extract(body, '\S[^\n]{0,400}'), '\s+', ' ', 'g') AS para,"
_MASKED = (
    r"regexp_replace(regexp_replace(regexp_extract(body, '\S[^\n]{0,400}'), '\s+', ' ', 'g'),"
    rf" '(^|[\s(«\"])({_pattern(ABBREVIATIONS)})\.', '\1\2{MASK}', 'g') AS para,"
)
_LINE = """    CASE WHEN length(sentence) <= 120 THEN sentence
         ELSE regexp_replace(left(sentence, 119), '\\s+\\S*$', '') || '…'
    END AS line"""
_UNMASKED = f"""    replace(CASE WHEN length(sentence) <= 120 THEN sentence
         ELSE regexp_replace(left(sentence, 119), '\\s+\\S*$', '') || '…'
    END, '{MASK}', '.') AS line"""

assert _BEFORE.count(_PARA) == 1 and _BEFORE.count(_LINE) == 1
V_NARRATIVES = _BEFORE.replace(_PARA, _MASKED).replace(_LINE, _UNMASKED)

MIGRATION = (
    43,
    "a narrative's first-sentence label no longer ends at an abbreviation before a capital "
    "(дек., ul., sog., vs.)",
    [V_NARRATIVES],
)
