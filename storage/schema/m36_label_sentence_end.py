"""A narrative's first-sentence label no longer ends at an abbreviation.

An untitled document (a channel post) is labelled by the first sentence of its text, which
ended at the first '.', '!', '?' or '…' followed by a space after 20 characters: "The
sanctions imposed by the U.S." for "The sanctions imposed by the U.S. on Russia have hit
exports.", "Президент заявил, что в 2024 г." for "... в 2024 г. Россия увеличит экспорт.".
A sentence now ends at '!', '?', '…' (and '。', '！', '？', '؟'), or at a '.' after four
letters, after a lower-case word of two or three letters ("it.", "war."), after a number
("2024.", "5%."), or as an ellipsis ("soon..."); and only where the next sentence starts
with a capital or a digit (past an opening quote or dash), or the line ends. So "U.S.",
"Mr.", "Gen.", "г.", "т.ч." no longer end one; a lower-case abbreviation of two or three
letters before a capital still does ("с 1 дек. Ледовый дворец"). A sentence it misses is cut
at 120 characters, as a long one was. Only the view changes: the stored labels are computed by it.
"""

from storage.schema.m20_translation_terms import V_NARRATIVES as _BEFORE

_OLD = r"regexp_extract(para, '^(.{20,}?[.!?…])(\s|$)', 1)"
_END = r"""(?:[!?…。！？؟]|[^\s.]{4}\.|\s\p{Ll}[^\s.]{1,2}\.|\p{N}%?\.|[^\s.]\.\.\.)"""
_NEXT = r"""(?:\s+["«„“‘(—–-]?[\p{Lu}\p{N}]|\s*$)"""
_NEW = rf"""regexp_extract(para, '^(.{{20,}}?{_END}["»”’)]?){_NEXT}', 1)"""

assert _BEFORE.count(_OLD) == 1
V_NARRATIVES = _BEFORE.replace(_OLD, _NEW)

MIGRATION = (
    36,
    "a narrative's first-sentence label no longer ends at an abbreviation (U.S., Mr., г.)",
    [V_NARRATIVES],
)
