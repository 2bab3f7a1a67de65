"""A short text that one site serves at three addresses or more is its boilerplate.

The dedup stage rejects such texts as not news (pipeline/dedup.py, ``repeat_addresses``): a
challenge, block or error page that a site serves in place of every article, in wording no
rule knows, or the site's header scraped instead of the article. ``site_repeats`` keeps the
text hash of each version it rejected so, which the stage's other tables drop with the
rejection, so that the next address serving the text counts those before it. Source health
counts these rejections beside the extract and embed stages'. Documents handled before this
version keep their verdicts until another address of their site serves the same text (then
they are rejected with it) or `process --stage dedup --force` judges them again."""

from storage.schema.m22_shape_at_embed import V_SOURCE_HEALTH as _BEFORE

_ANCHOR = "(r.stage = 'embed' AND r.reason = 'not_news')"
assert _ANCHOR in _BEFORE
V_SOURCE_HEALTH = _BEFORE.replace(
    _ANCHOR, "(r.stage IN ('embed', 'dedup') AND r.reason = 'not_news')"
)

MIGRATION = (
    28,
    "site_repeats: short texts a site serves at many addresses, rejected by the dedup stage "
    "as its boilerplate; source health counts them",
    [
        """CREATE TABLE site_repeats (
                doc_id     VARCHAR NOT NULL,
                version    INTEGER NOT NULL,
                site       VARCHAR NOT NULL,
                text_hash  VARCHAR NOT NULL,
                words      INTEGER NOT NULL,
                addresses  INTEGER NOT NULL,
                found_at   TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (doc_id, version)
            )""",
        "CREATE INDEX site_repeats_text_hash ON site_repeats (text_hash)",
        V_SOURCE_HEALTH,
    ],
)
