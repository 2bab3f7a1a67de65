"""Narrative labels: the content words of a document, for c-TF-IDF keywords."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
# Function words of the languages the monitored sites use most; keywords are content words.
STOPWORDS = frozenset(
    """the and for that with this from are was were has have had not but his her its their
    they them you your our who what which when where why how all any can could would should
    will just also than then there these those into over after before about more most other
    such only very said says been being one two new out off said like may might must does did
    while because between through during against under again further once here each both few
    own same too now even still yet per via
    что это как так его она они оно все для при уже или если было были быть был будет чтобы
    когда где там тут тоже также только еще ещё нет даже этот эта эти того тем чем себя свой
    своей своих который которая которые которых после перед между через над под без про
    the der die das und ist nicht ein eine einen dem den des mit von für auf aus bei nach wie
    auch sich sie wir ihr sind wird werden wurde noch nur oder aber als wenn dass zum zur
    що це як так його вона вони все для при вже або якщо було були бути був буде щоб коли
    де там також тільки ще немає навіть цей ця ці того тим ніж себе свій який яка які після
    перед між через над під без про кто кого кому чего была было были будут может можно
    весь всех всем всего этого этой этих того тех более менее очень sondern jede jeder
    every add ones right well much many make made""".split()
)


def terms(text: str, top: int = 30) -> list[tuple[str, int]]:
    """The ``top`` most frequent content words of a text, for c-TF-IDF keywords."""
    counts = Counter(
        w
        for w in _WORD.findall(text.lower())
        if w not in STOPWORDS and w not in _english_stopwords()
    )
    return counts.most_common(top)


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    """scikit-learn's English list (installed with sentence-transformers), else ours alone."""
    try:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
    except ImportError:  # pragma: no cover
        return frozenset()
    return frozenset(ENGLISH_STOP_WORDS)
