"""Channel posts that the extract stage rejected as not news are extracted again.

A Telegram post's title is its first line (crawlers/spiders/channels.py), so a post that opens
with a block notice ("Доступ к сайту ограничен по требованию Генпрокуратуры.") was titled as
its notice, as a block page is, and rejected however much news followed. Since this version a
post's title is judged as the line of the text it is, and a lone block notice in a post is a
weak sign that the embed stage weighs with the lead vector (``post_urls`` in the rules file).
Every current version at a post address, as the bundled rules give them, that the extract
stage rejects as not news loses that stage state: the next `process` extracts it again under
today's rules. Pages at other addresses keep their verdicts."""

MIGRATION = (
    26,
    "channel posts rejected as not news at extraction are extracted again under the current "
    "rules (a post's title is its first line; a lone block notice in it is weighed by the "
    "embed stage)",
    [
        r"""DELETE FROM stage_state s
        WHERE s.stage = 'extract' AND s.status = 'rejected'
          AND s.version = (SELECT d.current_version FROM documents d WHERE d.doc_id = s.doc_id)
          AND (
              SELECT arg_max(r.reason, r.rejection_id) FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = 'extract'
          ) = 'not_news'
          AND regexp_matches(
              (SELECT v.url FROM document_versions v
               WHERE v.doc_id = s.doc_id AND v.version = s.version),
              '^https?://t\.me/(s/)?\w+/\d+', 'i')""",
    ],
)
