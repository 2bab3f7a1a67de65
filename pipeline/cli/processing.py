"""`narrascope process`, `run` (crawl then process: the cron entry point) and `cluster`."""

from __future__ import annotations

import contextlib

import click

from pipeline.cli.app import CommandError, Context, common_options, say
from pipeline.cli.formatting import format_left, format_stage_report
from pipeline.cli.ingest import do_crawl, echo_source_problems
from pipeline.deadline import Deadline, Duration, format_seconds
from pipeline.engines import ENGINES
from pipeline.logs import log


def _known_stages(_ctx, _param, value):
    from pipeline.stages import REGISTRY

    unknown = [v for v in value if v not in REGISTRY]
    if unknown:
        raise click.BadParameter(
            f"unknown stage(s) {', '.join(unknown)}; known stages: {', '.join(REGISTRY)}"
        )
    return value


def _engine_settings(obj: Context) -> dict:
    """[process]: which engine, and the Ray cluster's address; a mistake is a config error."""
    from pipeline.config import ConfigError, stage_options

    with obj.naming_config():
        settings = stage_options("process", obj.config.get("process", {}),
                                 ("engine", "ray_address"))  # fmt: skip
        if settings.get("engine", "local") not in ENGINES:
            raise ConfigError(
                f"[process] engine must be one of {', '.join(ENGINES)}, not {settings['engine']!r}"
            )
    return settings


def _engine_runner(obj: Context, stages: list):
    """The ``run_stage`` of the configured engine: None for the local runner. Ray is imported
    only here, only for ``ray``, and only started when a stage that runs on it is asked for
    (whole-batch stages, dedup and cluster, run here in any case)."""
    settings = _engine_settings(obj)
    if settings.get("engine", "local") == "local" or all(s.whole_batch for s in stages):
        return None
    from pipeline.engines.ray_engine import RayEngine

    try:
        return RayEngine(address=settings.get("ray_address") or None).start().run_stage
    except (ImportError, ConnectionError) as err:  # no Ray here, no cluster there
        raise CommandError(str(err)) from err


def do_process(obj: Context, names=None, limit=None, force=False, progress=True, deadline=None):
    """Run the stages (all configured ones by default) and print one report per stage; a
    stage that stopped prints what was done before it and raises (exit 1). With a
    ``deadline`` (pipeline/deadline.py) no batch starts that would end after it."""
    from pipeline import interrupt
    from pipeline.contract import stage_settings
    from pipeline.errors import StageFailed
    from pipeline.reports import ProcessReport
    from pipeline.runner import run_stages
    from storage.runs import recorded_run

    configured = obj.stages()
    built = obj.stages(names) if names else configured
    run_stage = _engine_runner(obj, built)
    redo: list[str] = []
    if force:
        refused = [s for s in built if s.force_refusal]
        if names and refused:
            raise click.UsageError(
                "--force does not apply to "
                + "; ".join(f"{s.name}: {s.force_refusal}" for s in refused)
            )
        redo = [s.name for s in built if not s.force_refusal]
    report = ProcessReport()
    run = None
    echoed = False
    try:
        # the stages' settings from the start: an export of what a run still going, or killed,
        # committed says what produced it (storage/export_manifest.py)
        planned = {"stage_settings": {s.name: {"version": s.version, "settings": stage_settings(s)}
                                      for s in built}}  # fmt: skip
        with recorded_run(obj.db_path, "process", summary=planned) as run:
            try:
                for part in _upgrade_cluster(obj, built, run):
                    run_stages(
                        obj.db_path,
                        part,
                        pipeline=configured,
                        limit=limit,
                        force=redo,
                        run_id=run.run_id,
                        batch_size=obj.config["pipeline"]["batch_size"],
                        progress=progress,
                        report=report,
                        deadline=deadline.at if deadline is not None else None,
                        run_stage=run_stage,
                    )
                    if report.stopped_early:
                        run.status = "stopped early"
                        break
                interrupt.check()  # a stop signal that a finalizer let pass in the last batch
            except StageFailed as err:
                run.fail(err)
                raise
            finally:
                run.summary.update(report.as_dict())
                # each stage that ran has its settings in its report now: the ones recorded
                # at the start were for a run that dies (kept by the row until then)
                run.summary.pop("stage_settings", None)
            # printed before the run's end is recorded: a stop signal while the report waits
            # for its reader (`| less`) is the run's, recorded `interrupted` as its exit code
            # says (printed after, it came out as 143 and "rolled back" beside a run `ok`).
            # A reader that stops reading (`| head`) fails nothing: `say` lets it go
            echoed = True
            _echo_process_report(run.run_id, report)
    except BaseException:
        if run is not None and not echoed:
            with contextlib.suppress(BrokenPipeError):  # the error's own exit code wins
                _echo_process_report(run.run_id, report)
        raise
    if force:
        for s in built:
            if s.force_refusal:
                say(f"{s.name}: not redone by --force ({s.force_refusal})")
    return report


def _echo_process_report(run_id: str, report) -> None:
    """The log's process record, and one line per stage (and what a deadline left)."""
    log.info("process run %s", run_id,
             extra={"event": "process", "run_id": run_id, "summary": report.as_dict()})  # fmt: skip
    for s in report.stages:
        say(format_stage_report(s))
    if report.left is not None:
        say(format_left(report.left))


def _upgrade_cluster(obj: Context, built: list, run):
    """The stages in one part; or, when the cluster stage's version changed since documents
    were clustered, the stages before it, then everything re-clustered in one pass (old ids
    carried over, as `cluster --rebuild`), then the cluster stage for what is left. The
    re-clustering is the work of ``run`` (a process run): its state rows name the run, and
    the run's summary the cluster settings, which export manifests read."""
    cluster = next((s for s in built if s.name == "cluster"), None)
    if cluster is None or not (stale := _outdated(obj, cluster)):
        yield built
        return
    yield [s for s in built if s is not cluster]
    from pipeline.rebuild import rebuild

    report = rebuild(obj.db_path, obj.config["cluster"], run_id=run.run_id)
    run.summary[cluster.name] = report[cluster.name]
    say(
        f"cluster: {stale} documents were clustered by an earlier version; re-clustered "
        f"{report['documents']} into {report['narratives']} narratives ({report['kept']} ids "
        f"kept, {report['merged']} merged into others, {report['new']} new)"
    )
    yield [cluster]


def _outdated(obj: Context, cluster) -> int:
    from pipeline.rebuild import outdated

    return outdated(obj.db_path, cluster)


@click.command()
@click.option(
    "--stage",
    "stages",
    multiple=True,
    callback=_known_stages,
    help="Only these stages (repeatable).",
)
@click.option("--limit", type=click.IntRange(min=1), help="At most N documents per stage.")
@click.option(
    "--force",
    is_flag=True,
    help="Redo the stages for every document (the cluster stage excepted: use "
    "`narrascope cluster --rebuild`).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option(
    "--max-duration",
    type=Duration(),
    help="Time limit (50m, 1h30m, 900s): no batch starts that would end after it; what is "
    "left waits for the next run (exit 0, the report says so).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    help="Where the stages run: local (this process) or ray (a Ray cluster; needs "
    "narrascope[ray]) [default: [process] engine, else local].",
)
@click.option(
    "--ray-address",
    metavar="auto|HOST:PORT",
    help="The Ray cluster to join with --engine ray [default: [process] ray_address, else a "
    "local Ray instance on this machine's CPUs].",
)
@common_options
@click.pass_obj
def process(obj: Context, stages, limit, force, no_progress, max_duration, engine, ray_address):
    """Run pipeline stages over documents that still need them (idempotent).

    \b
    Example:  narrascope process --stage extract --limit 100
              narrascope process --max-duration 50m
              narrascope process --engine ray --ray-address 10.0.0.5:6379
    """
    settings = obj.config.setdefault("process", {})
    if ray_address and (engine or settings.get("engine")) != "ray":
        raise click.UsageError("--ray-address goes with --engine ray")
    if engine:
        settings["engine"] = engine
    if ray_address:
        settings["ray_address"] = ray_address
    _engine_settings(obj)
    obj.stages(list(stages) or None)  # a config mistake is named before anything else
    obj.existing_db()
    deadline = Deadline(max_duration) if max_duration else None
    with obj.writing():
        do_process(obj, list(stages) or None, limit, force, progress=not no_progress,
                   deadline=deadline)  # fmt: skip


@click.command()
@click.option("--sources", type=click.Path(dir_okay=False), help="Sources TOML.")
@click.option(
    "--max-duration",
    type=Duration(),
    help="Time limit (50m, 1h30m, 900s): crawling stops in time to process what it fetched "
    "within it; what is left waits for the next run (exit 0, the summary says so).",
)
@common_options
@click.pass_obj
def run(obj: Context, sources, max_duration):
    """Crawl, then process, then raise the configured alerts ([alerts] on_run): the cron
    entry point. Holds the database's writer lock from start to end; a second writer exits
    75 at once.

    \b
    Example:  narrascope --db /data/ops.duckdb run --sources /data/sources.toml --max-duration 50m
    """
    from pipeline.alerts import AlertSettings

    with obj.naming_config():  # a mistake in [alerts], [process] or a stage's table
        AlertSettings.from_config(obj.config)  # is named before the crawl
    _engine_settings(obj)
    obj.stages()
    deadline = Deadline(max_duration) if max_duration else None
    if deadline is not None:
        from crawlers.runner import CRAWL_DEFAULTS

        why = deadline.leaves_no_crawl(float({**CRAWL_DEFAULTS, **obj.config["crawl"]}["timeout"]))
        if why:
            raise click.UsageError(why)
    with obj.writing():
        summary = do_crawl(obj, sources, report_health=False, check=False, deadline=deadline)
        # what was fetched is processed even after a failure
        report = do_process(obj, progress=False, deadline=deadline)
        # after processing: extraction failures count too
        echo_source_problems(obj, summary["run_id"])
        _alerts_at_end(obj)
    if deadline is not None and (summary.get("stopped_early") or report.stopped_early):
        say(f"run stopped early at its time limit ({format_seconds(deadline.limit)}) "
            f"after {format_seconds(deadline.elapsed())}: the next run goes on from here")  # fmt: skip
    if summary["status"] == "failed":
        raise CommandError(f"crawl failed: {summary.get('error', 'see the log')}")


def _alerts_at_end(obj: Context) -> None:
    """The configured alerts, raised after processing; a failed webhook only warns (the
    alerts stay undelivered and go out with the next run)."""
    from pipeline.alerts import AlertSettings
    from pipeline.cli.alerting import do_alerts

    if AlertSettings.from_config(obj.config).on_run:
        do_alerts(obj, in_run=True)


@click.command()
@click.option("--rebuild", is_flag=True, help="Re-cluster every document in one pass.")
@click.option(
    "--threshold",
    type=float,
    callback=lambda _ctx, _param, value: _threshold(value),
    help="Override [cluster] threshold for this run (a similarity, 0 to 1).",
)
@common_options
@click.pass_obj
def cluster(obj: Context, rebuild, threshold):
    """Group documents into narratives. Without --rebuild: the incremental cluster stage (as
    `process --stage cluster`). With --rebuild: everything again from scratch (after changing
    the model or the threshold), old narrative ids carried over where membership largely
    survives; the report says how many ids were kept, merged, split and new.

    \b
    Example:  narrascope cluster --rebuild --threshold 0.5
    """
    settings = dict(obj.config["cluster"])
    if threshold is not None:
        settings["threshold"] = threshold
    obj.config["cluster"] = settings
    obj.existing_db()
    with obj.writing():
        if not rebuild:
            do_process(obj, ["cluster"], None, False, progress=False)
            return
        from pipeline.rebuild import rebuild as do_rebuild
        from storage.runs import recorded_run

        with recorded_run(obj.db_path, "cluster-rebuild") as run:
            report = do_rebuild(obj.db_path, settings, run_id=run.run_id)
            run.summary.update(report)
    click.echo(
        f"rebuilt {report['narratives']} narratives from {report['documents']} documents: "
        f"{report['kept']} ids kept, {report['merged']} merged into others (still resolvable), "
        f"{report['split']} split, {report['new']} new"
    )


def _threshold(value: float | None) -> float | None:
    """A similarity above 0 and at most 1: a typo (46 for 0.46, nan) would otherwise
    re-cluster the store into one narrative a document, or one in all."""
    if value is not None and not 0 < value <= 1:  # nan fails both comparisons
        raise click.BadParameter(f"{value} is not a similarity above 0 and at most 1 (e.g. 0.46)")
    return value
