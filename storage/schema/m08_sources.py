"""Sources and their tags, for analysts' joins."""

MIGRATION = (
    8,
    "sources and their tags, for analysts' joins",
    [
        # The sources file as the latest crawl read it, so SQL can group documents by a
        # source's tags (country, outlet type, known network). A source dropped from the
        # file keeps its row; `last_listed_at` says when a crawl last named it.
        """CREATE TABLE sources (
                name            VARCHAR PRIMARY KEY,
                home            VARCHAR NOT NULL,
                entry_points    VARCHAR[] NOT NULL,
                languages       VARCHAR[] NOT NULL,
                tags            MAP(VARCHAR, VARCHAR) NOT NULL,
                allowed_domains VARCHAR[] NOT NULL,
                max_pages       INTEGER,
                first_listed_at TIMESTAMPTZ NOT NULL,
                last_listed_at  TIMESTAMPTZ NOT NULL
            )""",
    ],
)
