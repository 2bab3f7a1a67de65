"""Pages that the extract stage rejected as not news are extracted again, under today's rules.

One line of a block notice ("Доступ к сайту ограничен по требованию Генпрокуратуры.") under a
title that is no stub's made a page a stub at extraction when it had under 250 characters of
other prose, and news briefs on blocked sites that state the block page's words, one sentence
a line as Telegram channels write them, were lost. Since this version such a line is a weak
sign that the embed stage weighs with the lead vector, as it weighs a stub's title alone
(schema 23). As in schema 23, which rejections it made cannot be told from their detail alone,
so every current document version that the extract stage rejects as not news loses that stage
state: the next `process` extracts it again (a page that is still a stub is rejected again,
its rejection logged twice) and the stages after it judge what is kept."""

MIGRATION = (
    25,
    "pages rejected as not news at extraction are extracted again under the current rules (a "
    "lone block notice under a news headline is weighed by the embed stage)",
    [
        """DELETE FROM stage_state s
        WHERE s.stage = 'extract' AND s.status = 'rejected'
          AND s.version = (SELECT d.current_version FROM documents d WHERE d.doc_id = s.doc_id)
          AND (
              SELECT arg_max(r.reason, r.rejection_id) FROM rejections r
              WHERE r.doc_id = s.doc_id AND r.version = s.version AND r.stage = 'extract'
          ) = 'not_news'""",
    ],
)
