"""The dashboard's pages: each reads the views through dashboards/queries.py and renders a
template with its rows and the SQL that produced them. Handlers are plain functions, which
Starlette runs in its thread pool (DuckDB calls block)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, date, timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.routing import Route

from dashboards import queries as q
from dashboards.archive import read_record
from dashboards.db import BUSY_WAIT_SECONDS, Busy, Result, Store
from storage.queries import gone_message, gone_narratives

PAGE_SIZE = 50
LINEAGE_GROUPS = 20  # copy groups a page of a narrative's lineage
SEARCH_DEPTH = 1000  # search results can be paged up to this rank
OVERVIEW_DAYS = 60
OVERVIEW_ROWS = 10  # a page of each overview list
CHART_DAYS = 730  # at most two years of days a chart


def _store(request: Request) -> Store:
    return request.app.state.store


def render(request: Request, template: str, **context) -> HTMLResponse:
    env = request.app.state.env
    nav = template.split(".")[0]
    return HTMLResponse(env.get_template(template).render(request=request, nav=nav, **context))


def _int(request: Request, name: str, default: int | None = None, low: int = 1,
         high: int = 1_000_000) -> int | None:  # fmt: skip
    value = request.query_params.get(name, "").strip()
    if not value:
        return default
    try:
        return min(max(int(value), low), high)
    except ValueError:
        raise HTTPException(400, f"{name} must be a whole number") from None


def _date(request: Request, name: str) -> str | None:
    """A YYYY-MM-DD date (what the form's date inputs send), else 400."""
    value = request.query_params.get(name, "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:  # fromisoformat also takes 20240101 and 2024-W01-1
            return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    raise HTTPException(400, f"{name} must be a date (YYYY-MM-DD)")


def _lang(request: Request, name: str) -> str | None:
    """A language code as the stages store it ("EN" is en, as the CLI's options read it),
    else 400: a filter in another case would silently match nothing."""
    from pipeline.langid import is_language_tag, language_of

    value = request.query_params.get(name, "").strip()
    if value and not is_language_tag(value):
        raise HTTPException(400, f"{name} must be a language code, e.g. en")
    return language_of(value) if value else None  # "pt-BR" is pt, as stored


def _tag(request: Request) -> str | None:
    value = request.query_params.get("tag", "").strip()
    if value and ("=" not in value or not value.split("=", 1)[0].strip()):
        raise HTTPException(400, "tag must be key=value, e.g. country=RU")
    return value or None


def chart(title: str, result: Result) -> str:
    """Rows of (day, lang, documents) as the JSON dashboards/static/charts.js draws: every
    day from the first to the last, one series per language, stacked."""
    rows = [r for r in result.rows if r[0] is not None]
    if not rows:
        return json.dumps({"title": title, "x": [], "series": [], "stacked": True})
    days = sorted({r[0] for r in rows})
    first, last = days[0], days[-1]
    # a crawled date of 0001-01-01 must not make a chart of 700,000 days
    first = max(first, last - timedelta(days=CHART_DAYS))
    rows = [r for r in rows if r[0] >= first]
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    index = {d: i for i, d in enumerate(span)}
    langs = sorted({r[1] for r in rows})
    values = {lang: [0] * len(span) for lang in langs}
    for day, lang, n in rows:
        values[lang][index[day]] += int(n)
    x = [int(d.replace(tzinfo=d.tzinfo or UTC).timestamp()) for d in span]
    series = [{"label": lang, "values": values[lang]} for lang in langs]
    return json.dumps({"title": title, "x": x, "series": series, "stacked": True})


def overview(request: Request):
    pages = {name: _int(request, name, 1) for name in ("growth_page", "attention_page",
                                                       "runs_page")}  # fmt: skip
    with _store(request).reading() as store:
        per_day = store.query(q.DOCS_PER_DAY, {"days": OVERVIEW_DAYS})
        return render(
            request,
            "overview.html",
            per_day=per_day,
            per_day_chart=chart("Documents per day by language", per_day),
            growth=store.query(q.GROWTH, page=pages["growth_page"], page_size=OVERVIEW_ROWS),
            attention=store.query(
                q.ATTENTION, page=pages["attention_page"], page_size=OVERVIEW_ROWS
            ),  # fmt: skip
            runs=store.query(q.LAST_RUNS, page=pages["runs_page"], page_size=OVERVIEW_ROWS),
            pages=pages,
            days=OVERVIEW_DAYS,
        )


def narratives(request: Request):
    p = request.query_params
    since, until = _date(request, "since"), _date(request, "until")
    if since and until and since > until:  # as export refuses it: not an empty list
        raise HTTPException(400, f"since {since} is after until {until}: nothing lies between")
    filters = q.NarrativeFilters(
        since=since,
        until=until,
        lang=_lang(request, "lang"),
        tag=_tag(request),
        min_sites=_int(request, "min_sites"),
        min_languages=_int(request, "min_languages"),
        sort=p.get("sort") if p.get("sort") in q.SORTS else "last_seen",
    )
    page = _int(request, "page", 1)
    sql, params = filters.sql()
    with _store(request).reading() as store:
        if filters.lang and filters.lang not in store.languages:  # as export refuses it
            raise HTTPException(400, f"no document is in language {filters.lang!r} "
                                f"(languages here: {', '.join(store.languages) or 'none'})")  # fmt: skip
        result = store.query(sql, params, page=page, page_size=PAGE_SIZE)
        return render(request, "narratives.html", result=result, filters=filters, page=page,
                      sorts=list(q.SORTS), languages=store.languages)  # fmt: skip


def lineage(rows: list[dict]) -> list[dict]:
    """Copy groups as trees: each copy under the earlier member its strongest link goes to
    (`via`, when it has no direct link to the origin), else under the origin; a member
    nothing leads to from the origin hangs under the origin too. No cycles: a parent is
    always seen earlier (seen_at, then doc_id)."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group_id"], []).append({**r, "children": []})
    trees = []
    for members in groups.values():
        by_id = {m["doc_id"]: m for m in members}
        order = {m["doc_id"]: (m["seen_at"] is None, m["seen_at"], m["doc_id"]) for m in members}
        origin = next((m for m in members if m["copy_kind"] == "origin"), None)
        for m in members:
            if m is origin:
                continue
            parent = by_id.get(m["via"])
            if parent is None or order[parent["doc_id"]] >= order[m["doc_id"]]:
                parent = by_id.get(m["copy_of"]) or origin
            if parent is None or parent is m:
                trees.append(m)
            else:
                parent["children"].append(m)
        if origin is not None:
            trees.append(origin)
    return trees


def narrative(request: Request):
    with _store(request).reading() as store:
        asked = request.path_params["narrative_id"]
        if asked >= 2**63:  # no BIGINT: no narrative (not a failed query)
            raise HTTPException(404, f"No narrative {asked}.")
        found = store.query(q.RESOLVE, {"id": asked}).rows
        if not found:
            gone = gone_narratives(store.con, [asked])
            if gone:  # every document withdrawn for now: say why, and that it comes back
                raise HTTPException(404, gone_message(asked, asked, gone[asked]))
            raise HTTPException(404, f"No narrative {asked}.")
        current = found[0][0]
        if current != asked:  # merged into another: its id lives on there
            return RedirectResponse(f"/narratives/{current}", 301)
        params = {"id": current}
        head = store.query(q.NARRATIVE, params)
        if not head.rows:
            raise HTTPException(404, f"No narrative {asked}.")
        timeline = store.query(q.TIMELINE, params)
        pages = {name: _int(request, name, 1) for name in ("page", "sites_page",
                                                           "lineage_page")}  # fmt: skip
        links = store.query(q.LINEAGE, params, page=pages["lineage_page"],
                            page_size=LINEAGE_GROUPS)  # fmt: skip
        return render(
            request,
            "narrative.html",
            n=head.dicts[0],
            head=head,
            timeline=timeline,
            timeline_chart=chart("Documents per day by language", timeline),
            sites=store.query(q.SITES, params, page=pages["sites_page"], page_size=PAGE_SIZE),
            links=links,
            trees=lineage(links.dicts),
            members=store.query(q.MEMBERS, params, page=pages["page"], page_size=PAGE_SIZE),
            pages=pages,
        )


def document(request: Request):
    with _store(request).reading() as store:
        params = {"id": request.path_params["doc_id"]}
        doc = store.query(q.DOCUMENT, params)
        if not doc.rows:
            raise HTTPException(404, "No such document.")
        waiting = store.query(q.WAITING_MODELS, params).rows
        archive = store.query(q.ARCHIVE, params)
        copies_page = _int(request, "copies_page", 1)
        return render(
            request,
            "document.html",
            d=doc.dicts[0],
            doc=doc,
            copies=store.query(q.COPIES, params, page=copies_page, page_size=PAGE_SIZE),
            copies_page=copies_page,
            install=install_command(*waiting[0]) if waiting else None,
            archived=bool(archive.rows and archive.rows[0][0]),
        )


def _embedder(request: Request):
    """The app's one embed stage: its model loads on the first semantic search, then stays."""
    from pipeline.embed import EmbedStage

    state = request.app.state
    with state.embed_lock:
        if getattr(state, "embed_stage", None) is None:
            state.embed_stage = EmbedStage.from_settings(state.embed)
        return state.embed_stage


def install_command(source_lang: str, target_lang: str) -> str:
    """What `narrascope status` says to run for documents waiting for a model."""
    target = f" --target {target_lang}" if target_lang != "en" else ""
    return f"narrascope models install {source_lang}{target}"


def archived(request: Request):
    store = _store(request)
    params = {"id": request.path_params["doc_id"]}
    found = store.query(q.ARCHIVE, params)
    if not found.rows or not found.rows[0][0]:
        raise HTTPException(404, "No archived copy of this page.")
    warc_file, offset, length, url, fetched_at = found.rows[0]
    try:
        record = read_record(warc_file, offset, length, store.path)
    except (OSError, ValueError) as err:
        raise HTTPException(404, f"The archived copy cannot be read: {err}") from None
    return render(request, "archive.html", doc_id=params["id"], record=record,
                  archive_sql=found.sql, fetched_at=fetched_at,
                  warc=(warc_file, offset, length))  # fmt: skip


def search(request: Request):
    from pipeline import search as searching
    from pipeline.errors import ModelError
    from storage.db import DatabaseBusy, StorageError, lock_wait

    p = request.query_params
    text = p.get("q", "").strip()
    mode = "semantic" if p.get("mode") == "semantic" else "keyword"
    lang = _lang(request, "lang")
    query_lang = _lang(request, "query_lang")  # semantic: the query's language, else detected
    limit = min(_int(request, "limit", 20), 200)
    deepest = -(-SEARCH_DEPTH // limit)  # the last page holds rank SEARCH_DEPTH
    page = _int(request, "page", 1, high=deepest)
    # the ranking up to this page, and one more to know if more follow
    upto = min(page * limit, SEARCH_DEPTH)
    rows, columns, error = [], [], None
    store = _store(request)
    # first, through the store: a file a run holds is the notice, an older schema is refused
    # (pipeline.search's own opens would migrate it, and wait 30 s for a writer)
    with store.reading() as reader:
        languages = reader.languages
        if text and mode == "keyword":
            try:
                rows = searching.keyword_rows(reader.con, text, lang=lang, limit=upto + 1)
                columns = searching.KEYWORD_COLUMNS
            except StorageError as err:  # too many words, or a language no document is in
                error = str(err)
    if text and mode == "semantic":
        try:
            with lock_wait(BUSY_WAIT_SECONDS):
                rows = searching.semantic(store.path, text, request.app.state.embed,
                                          lang=lang, limit=upto + 1, query_lang=query_lang,
                                          stage=_embedder(request))  # fmt: skip
                columns = searching.SEARCH_COLUMNS
        except DatabaseBusy as err:
            raise Busy(str(err)) from err
        except (StorageError, ModelError) as err:
            error = str(err)
    more = len(rows) > upto and upto < SEARCH_DEPTH
    results = [dict(zip(columns, r, strict=True)) for r in rows[: min(upto, len(rows))]]
    first = {}  # a copy follows its copy group's best hit: which rank that is
    for r in results:
        lead = first.setdefault(r.get("copy_group") or r["doc_id"], r["rank"])
        r["follows"] = lead if lead != r["rank"] else None
    results = results[(page - 1) * limit :]
    # quoted for a POSIX shell: the query and language come from a URL anyone can send
    command = shlex.join(
        ["narrascope", "--db", str(store.path), "search"]
        + (["--semantic"] if mode == "semantic" else [])
        + (["--query-lang", query_lang] if mode == "semantic" and query_lang else [])
        + (["--lang", lang] if lang else [])
        + ["--limit", str(upto), "--", text]
    )
    return render(request, "search.html", text=text, mode=mode, lang=lang, limit=limit,
                  query_lang=query_lang,
                  results=results, error=error, command=command, languages=languages,
                  page=page, paged=Result("", [], [], more))  # fmt: skip


def sources(request: Request):
    page = _int(request, "page", 1)
    result = _store(request).query(q.SOURCES, page=page, page_size=PAGE_SIZE)
    return render(request, "sources.html", result=result, page=page)


def routes() -> list[Route]:
    return [
        Route("/", overview),
        Route("/narratives", narratives),
        Route("/narratives/{narrative_id:int}", narrative),
        Route("/documents/{doc_id}", document),
        Route("/documents/{doc_id}/archive", archived),
        Route("/search", search),
        Route("/sources", sources),
    ]
