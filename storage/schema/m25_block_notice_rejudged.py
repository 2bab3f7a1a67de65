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

from storage.schema.m23_notnews_rejudged import MIGRATION as REJUDGED

MIGRATION = (
    25,
    "pages rejected as not news at extraction are extracted again under the current rules (a "
    "lone block notice under a news headline is weighed by the embed stage)",
    REJUDGED[2],  # schema 23's statement, as released
)
