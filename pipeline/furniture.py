"""Page furniture in extracted text: teasers, captions, tag lists and share/newsletter prompts."""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import pairwise

from lxml.html import HtmlElement

# Words that name furniture in class and id tokens, by kind. A token is split into words at
# "-", "_", ":", "." and camelCase humps, so "vce-related-box" and "navBreadcrumbs" match;
# two neighbouring words also count as one ("tag-list").
MARKUP_WORDS: dict[str, frozenset[str]] = {
    "teaser": frozenset(
        "related relatedposts yarpp teaser teasers recommended recommendations popular"
        " mostread mostpopular morestories".split()
    ),
    "share": frozenset("share sharing sharedaddy sharer shariff social sociable".split()),
    "newsletter": frozenset("newsletter subscribe subscription signup promo".split()),
    "tags": frozenset("tags tagcloud taglist taglinks tagged".split()),
    "caption": frozenset("caption figcaption credit credits copyright".split()),
    "author box": frozenset("authorbox bio sabox saboxplugin".split()),
    "navigation": frozenset(
        "nav navigation menu breadcrumb breadcrumbs pagination pager toc".split()
    ),
    "sidebar": frozenset({"sidebar"}),
    "footer": frozenset({"footer"}),
    "disclaimer": frozenset({"disclaimer", "disclosure"}),
    "consent": frozenset({"cookie", "consent"}),
    "ad": frozenset("ad ads advert advertisement sponsor sponsored anzeige werbung".split()),
}
# Elements trafilatura itself never takes as content; its fallbacks (readability, justext, the
# baseline) sometimes bring their text back.
MARKUP_TAGS = {"figcaption": "caption", "nav": "navigation", "aside": "sidebar", "footer": "footer"}
# WordPress sidebar widgets ("widget_recent_entries"; "elementor-widget" is the article itself)
# and its embed of another post.
_PREFIXES = {"widget": "sidebar"}
_TOKENS = {"wp-embedded-content": "teaser"}
# WordPress marks the post element itself ("post-12 type-post status-publish hentry tag-social
# category-share"): those classes describe the post, not furniture.
_POST_ELEMENT = re.compile(r"hentry$|(?:type|status|postid)-")
_WORDS = re.compile(r"[-_:.\s]+|(?<=[a-z])(?=[A-Z])")
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}  # their ids are made from their text
_NOT_SHOWN = {"head", "script", "style", "noscript", "template", "link", "meta", "svg"}

# A label ends its line or is followed by ":" (then a title or a list of networks may follow).
_END = r"\s*(?:[:?!.…|»>–-]|$)"
_NETWORKS = (
    r"(?:twitter|x|facebook|instagram|telegram|youtube|tiktok|linkedin|pinterest|whatsapp|xing"
    r"|reddit|threads|mastodon|google news|vk|вконтакте|телеграм|e-?mail)"
)
_NEWSLETTER = r"(?:newsletter|рассылк|розсилк|biuletyn)"
_SIGN_UP = (
    r"\b(?:sign up|subscribe|abonnier\w*|anmelden|tragen sie sich|melden sie sich|registrier\w*"
    r"|подпи\w+|підпи\w+|zapisz|inscri\w+|suscr\w+|iscriv\w+)\b"
)
_YOU = (
    r"\b(?:our|your|you|my|unser\w*|ihr\w*|sie|dich|du|mein\w*|notre|nos|votre|vous|nuestro|tu"
    r"|наш\w*|ваш\w*|вы|nasz\w*|twoj\w*|nostra|tua)\b"
)


def _rule(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


# Lines that are prompts rather than article text, each with the longest line it may be
# (en, de, ru, uk, pl, fr, es, it). Every rule wants the form of a prompt, not just its words:
# "Share prices fell" or "Werbung für Tabak ist verboten" are article sentences.
PROMPTS: dict[str, tuple[re.Pattern, int]] = {
    # the heading over teasers of other articles, alone or before one title
    "teaser heading": (
        _rule(
            r"^\W*(?:related(?: (?:posts?|articles?|stories|content|reading|recipes))?|"
            r"read (?:more|also|next)|also read|see also|you (?:may|might) also like|"
            r"recommended(?: for you| articles| stories)?|don'?t miss|more stories|"
            r"auch interessant|schon gelesen|lesen sie (?:auch|mehr|hier)|mehr zum thema|"
            r"weitere (?:artikel|beiträge|themen|nachrichten)(?: \S+){0,3}|"
            r"das könnte (?:sie|dich) auch interessieren|empfohlene (?:artikel|beiträge)|"
            r"ähnliche (?:artikel|beiträge)|passend dazu|читайте (?:также|еще|ещё)|"
            r"смотрите также|по теме|похожие (?:статьи|записи|новости|материалы)|"
            r"читайте також|дивіться також|за темою|czytaj (?:też|także|również|więcej)|"
            r"zobacz (?:też|także|również)|(?:à )?lire (?:aussi|également)|voir aussi|"
            rf"sur le même sujet|lee también|lea también|te puede interesar|leggi anche){_END}"
        ),
        120,
    ),
    "tag list": (
        _rule(
            r"^\W*(?:tags|tagged(?: with)?|schlagwörter|schlagworte|stichwörter|теги|метки|тэги"
            r"|мітки|tagi|étiquettes|etiquetas)\s*:"
        ),
        300,
    ),
    "share": (
        _rule(
            r"^\W*(?:share(?: (?:this|the) (?:article|story|post|page))?|share this|teilen(?: mit)?"
            r"|(?:diesen )?(?:artikel|beitrag) teilen|поделиться|поділитися|udostępnij|partager"
            rf"|compartir|condividi)(?:\s*(?::|$)|\s+(?:on|via|auf|mit|sur|en|в|у|na|su)\s+"
            rf"{_NETWORKS}\b)"
        ),
        80,
    ),
    "subscribe": (
        _rule(
            r"^\W*(?:subscribe|sign up)(?:\s*[:!.]|\s*$|\s+(?:now|today|here|to|for)\b)|"
            r"^\W*(?:jetzt abonnieren|abonnieren sie|подпишитесь|подписывайтесь|підпишіться"
            r"|підписуйтесь|zapisz się|subskrybuj|abonnez-vous|inscrivez-vous|suscríbete"
            r"|iscriviti)\b|^\W*zapraszamy (?:też |także )?do (?:subskrypcji|obserwowania)"
        ),
        250,
    ),
    "newsletter": (
        _rule(
            rf"^(?=.*{_NEWSLETTER})(?=.*{_SIGN_UP})(?=.*{_YOU}|.{{0,50}}$)",
        ),
        250,
    ),
    "follow": (
        _rule(
            r"^\W*(?:follow (?:us|me|[\w@.' ]{1,40}? on)|folgen sie uns|folge uns|следите за нами"
            r"|подписывайтесь на нас|стежте за нами|obserwuj nas|suivez-nous|síguenos|seguici)"
            rf"\b.{{0,120}}\b{_NETWORKS}\b"
        ),
        250,
    ),
    "app": (
        _rule(
            r"^\W*(?:download|get|install) (?:the|our)\b.{0,60}\bapp\b|"
            r"\bdownload our\b.{0,60}\bapp\b|\bfor the latest\b.{0,80}\bdownload\b"
        ),
        250,
    ),
    "reprint": (
        _rule(
            r"all rights reserved|alle rechte vorbehalten|все права защищены|усі права захищені|"
            r"wszelkie prawa zastrzeżone|tous droits réservés|todos los derechos reservados|"
            r"copyrighted property|(?:reprint|republish|reproduc|nachdruck|перепечат|передрук|"
            r"przedruk|копирование).{0,80}(?:permission|prohibited|forbidden|not permitted|"
            r"genehmigung|untersagt|разрешени|запрещ|дозвол|заборон|zgod|zabronion|autoris|"
            r"interdit)|(?:permission|genehmigung|разрешени|дозвол|zgod).{0,80}(?:reprint|"
            r"republish|nachdruck|перепечат|передрук|przedruk)"
        ),
        300,
    ),
    "ad label": (
        _rule(
            r"^\W*(?:anzeige|werbung|advertisement|sponsored(?: content| post)?|реклама|reklama"
            r"|publicité|publicidad|pubblicità)\s*(?:[:,.*|)\]–-]|$)"
        ),
        120,
    ),
    "photo credit": (
        _rule(r"^\W*(?:foto|photo|bild|image|фото|fot\.|zdjęcie|credit)s?\s*(?:credits?)?\s*:"),
        120,
    ),
}


def furniture_kind(el: HtmlElement) -> str | None:
    """The kind of furniture an element's tag, class or id names, or None."""
    if el.tag in MARKUP_TAGS:
        return MARKUP_TAGS[el.tag]
    return _named_kind(el.get("class") or "", el.get("id") or "")


@lru_cache(maxsize=4096)  # pages repeat the same class names many times
def _named_kind(classes: str, ids: str) -> str | None:
    tokens = classes.split() + ids.split()
    if any(_POST_ELEMENT.match(token) for token in tokens):
        return None
    for token in tokens:
        if token in _TOKENS:
            return _TOKENS[token]
        for prefix, kind in _PREFIXES.items():
            if token.lower().startswith(prefix):
                return kind
        words = [word.lower() for word in _WORDS.split(token) if word]
        # compounds too: "tag-list" names a "taglist", "related-posts" "relatedposts"
        names_in_token = {*words, *(a + b for a, b in pairwise(words))}
        for kind, names in MARKUP_WORDS.items():
            if names_in_token & names:
                return kind
    return None


def _key(text: str) -> str:
    # extractors and text_content() space inline elements differently: compare without spaces
    return "".join(text.split())


def furniture_sections(
    tree: HtmlElement, text: str, max_share: float = 0.75
) -> list[tuple[HtmlElement, str]]:
    """Outermost furniture elements of the page with their text (spaces removed).

    A section whose markup names furniture is the article after all when it holds the page
    title (h1), the longest line of the extracted ``text`` or more than ``max_share`` of it:
    themes name article wrappers "sticky-sidebar-relative" or "entry-content share-enabled".
    Then its children are looked at instead. A teaser block must link somewhere: a lead
    paragraph that a site calls its "teaser" does not.
    """
    keys = [_key(line) for line in text.split("\n")]
    total = sum(map(len, keys)) or 1
    longest = max(keys, key=len)
    found: list[tuple[HtmlElement, str]] = []
    stack = [child for child in reversed(tree) if isinstance(child.tag, str)]
    while stack:
        el = stack.pop()
        if el.tag in _NOT_SHOWN:
            continue
        kind = furniture_kind(el) if el.tag not in _HEADINGS else None
        if kind and (kind != "teaser" or el.tag == "a" or el.find(".//a[@href]") is not None):
            content = _key(el.text_content() or "")
            inside = sum(len(k) for k in keys if k and k in content)
            if (
                inside <= max_share * total
                and not (longest and longest in content)
                and el.find(".//h1") is None
            ):
                found.append((el, content))
                continue
        stack.extend(child for child in reversed(el) if isinstance(child.tag, str))
    return found


def drop_furniture_lines(
    text: str, tree: HtmlElement, max_share: float = 0.75, max_drop_share: float = 0.75
) -> tuple[str, int]:
    """Remove from extracted ``text`` the lines that occur only inside furniture sections.

    As with comments, the extractor keeps its choice of main region: a line also found outside
    the furniture (a caption repeating an article sentence) stays. When the furniture would
    take more than ``max_drop_share`` of the text (a gallery whose captions are the story),
    nothing is removed. ``tree`` is modified. Returns the text and the number of lines removed.
    """
    sections = furniture_sections(tree, text, max_share)
    if not sections:
        return text, 0
    lines = text.split("\n")
    keys = [_key(line) for line in lines]
    inside = {i for i, k in enumerate(keys) if k and any(k in content for _, content in sections)}
    if sum(len(keys[i]) for i in inside) > max_drop_share * sum(map(len, keys)):
        return text, 0
    for el, _ in sections:
        el.drop_tree()
    outside = _key(tree.text_content() or "")
    leaked = {i for i in inside if keys[i] not in outside}
    return "\n".join(line for i, line in enumerate(lines) if i not in leaked), len(leaked)


def is_prompt(line: str) -> bool:
    """Whether a line of text is a share, subscribe, follow, reprint, ad or credit prompt."""
    line = line.strip()
    return bool(line) and any(
        len(line) <= most and rule.search(line) for rule, most in PROMPTS.values()
    )


def drop_prompt_lines(text: str) -> tuple[str, int]:
    """Remove prompt lines (``is_prompt``); returns the text and the number removed."""
    lines = text.split("\n")
    kept = [line for line in lines if not is_prompt(line)]
    return "\n".join(kept), len(lines) - len(kept)
