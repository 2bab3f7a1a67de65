"""How command results read on a terminal: crawl and process summaries, the status report."""

from __future__ import annotations

from pipeline.output import terminal_safe as safe


def format_crawl(summary: dict) -> str:
    get = lambda key: summary.get(key, 0)  # noqa: E731
    line = (
        f"crawl {summary['status']}: {get('responses')} responses, {get('new')} new, "
        f"{get('changed')} changed, {get('unchanged')} unchanged "
        f"({get('not_modified')} not modified), {get('skipped')} skipped as unchanged by "
        f"their listing, {get('rejected')} rejected"
    )
    lines = [line]
    if summary.get("without_state"):
        lines.append(
            f"{summary['without_state']} pages fetched without their stored state "
            "(the database was held by another process): unconditional requests"
        )
    if not get("new") and not get("changed") and summary["status"] == "ok":
        if get("rejected"):  # fetches that failed or were refused are no "unchanged"
            lines.append("nothing new stored: the pages fetched were unchanged or rejected")
        elif get("unchanged") or get("skipped"):
            lines.append("nothing new: every page listed was unchanged since the last crawl")
        else:
            lines.append("nothing new: no source listed a page to fetch")
    if summary.get("rejected_by_reason"):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary["rejected_by_reason"].items()))
        lines.append(f"rejected: {reasons}")
    if summary.get("bad_items_by_reason", {}).get("other_run"):
        lines.append(f"{summary['bad_items_by_reason']['other_run']} items of another run "
                     "ignored (rejections 'bad_frontier_item'; this run crawled those pages)")  # fmt: skip
    if summary.get("lost_crawlers"):
        lines.append("crawlers lost without a closing report (their health counts are "
                     "missing): " + ", ".join(map(safe, summary["lost_crawlers"])))  # fmt: skip
    if summary.get("stopped_early"):
        left = summary["stopped_early"].get("requests_left", 0)
        why = ("the crawlers stopped at --max-duration" if "crawlers" in summary  # frontier
               else "crawl stopped early to leave time for processing within --max-duration")  # fmt: skip
        if left or summary.get("responses") or "crawlers" in summary:
            lines.append(f"{why}: {left} queued requests left for the next run")
            if left and not get("new") and not get("changed"):
                # robots.txt, listings, checks or failures took the whole slot: a run with the
                # same limit and delays may do the same again (before, each said "goes on")
                lines.append("no new or changed page was read before the time limit: the "
                             "listings, checks and failed requests took it all; a run with the "
                             "same limit may do the same again (give --max-duration more time; "
                             "long crawl delays or timeouts take it too)")  # fmt: skip
        else:  # stopped before any request was made: "0 left" would read as "all done"
            lines.append(f"{why}: nothing was fetched, the documents already waiting take the "
                         "time; the next run crawls again")  # fmt: skip
    return "\n".join(lines)


def format_left(left: dict[str, int]) -> str:
    """What a process run stopped at its deadline left for the next run."""
    waiting = ", ".join(f"{stage} {n}" for stage, n in left.items())
    return (
        "processing stopped early to end within --max-duration; documents ready for each stage "
        f"now, processed by the next run: {waiting} (a later stage also gets those still in "
        "an earlier one)"
    )


def format_stage_report(s) -> str:
    """One line per stage, then whatever the stage's results counted, in the order they were
    first counted (the CLI knows no stage's counter names: each record's ``counts`` names
    them, e.g. ``no_model`` -> "3 no model")."""
    line = (
        f"{s.stage} v{s.version}: {s.done} done, {s.rejected} rejected ({s.docs_per_s:.0f} docs/s)"
    )
    details = []
    if s.reopened:
        details.append(f"{s.reopened} reopened (a model is now installed)")
    if s.retrying:
        details.append(f"{s.retrying} failed and will be retried next run")
    if s.counters:
        counted = [f"{n} {key.replace('_', ' ')}" for key, n in s.counters.items() if n]
        if counted:
            details.append(", ".join(counted))
    if s.note:
        details.append(s.note)
    return line + "".join(f"\n    {d}" for d in details)


def format_status(report: dict) -> str:
    lines = [f"documents: {report['documents']} ({report['versions']} versions)"]
    lines.append(
        "sources: " + (", ".join(f"{safe(k)} {v}" for k, v in report["sources"].items()) or "none")
    )
    if report.get("writer"):
        w = report["writer"]
        lines.append(
            f"writing now: pid {w.get('pid')} ({safe(w.get('command'))}, "
            f"since {w.get('started_at')})"
        )
    lines.append("stages:")
    for name, backlog in report["backlog"].items():
        s = report["by_stage"].get(name, {"done": 0, "rejected": 0})
        lines.append(
            f"  {name:<10} done {s['done']:>6}  rejected {s['rejected']:>5}  backlog {backlog:>6}"
        )
    lines.append(
        "languages: "
        + (", ".join(f"{safe(k)} {v}" for k, v in report["languages"].items()) or "none")
    )
    if report["translations"]:
        lines.append(
            "translations: " + ", ".join(f"{k} {v}" for k, v in report["translations"].items())
        )
    if report["translation_needs"]:
        waiting = ", ".join(f"{safe(k)} {v}" for k, v in report["translation_needs"].items())
        lines.append(f"  waiting for a translation model: {waiting}")
        lines.append(f"  install with: {report['translation_install_command']}")
    for e in report["embeddings"]:
        lines.append(
            f"embeddings: {e['documents']} with {e['model_id']} ({e['input']} text, "
            f"{e['dim']} dims, {e['runtime']})"
        )
    lines.append(
        f"copies: {report['copies']['documents']} documents in {report['copies']['groups']} "
        f"copy groups; narratives: {report['narratives']}"
    )
    for source, problem in report.get("source_problems", {}).items():
        lines.append(f"source needs attention: {safe(source)}: {problem}")
    lines.append("rejections:" + ("" if report["rejections"] else " none"))
    for r in report["rejections"]:
        lines.append(f"  {r['stage']:<8} {r['reason']:<18} {r['count']}")
    errors = report.get("stage_errors", [])
    if errors:
        lines.append("documents that made a stage fail:")
        for e in errors:
            state = "given up" if e["given_up"] else f"retried next run ({e['attempts']} tries)"
            lines.append(
                f"  {e['stage']:<8} {state:<28} {safe(e['url'])}  {safe(e['error'])[:120]}"
            )
    lines.append("last runs:")
    for r in report["last_runs"]:
        dead = r.get("alive") is False
        lines.append(f"  {r['started_at']:%Y-%m-%d %H:%M:%S}  {r['kind']:<8} {r['status']:<13} "
                     f"{r['run_id']}" + ("  (no process holds the writer lock: killed? the next "
                                         "writer marks it abandoned)" if dead else ""))  # fmt: skip
    return "\n".join(lines)
