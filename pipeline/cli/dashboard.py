"""`narrascope dashboard`: serve the read-only web dashboard (dashboards/) over the database."""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

import click

from pipeline.cli.app import CommandError, Context, common_options


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8050,
    show_default=True,
    help="Port to listen on (0: any free one, printed with the URL).",
)
@click.option(
    "--token",
    envvar="NARRASCOPE_DASHBOARD_TOKEN",
    help="Every request must carry it (required on any address but loopback; also "
    "NARRASCOPE_DASHBOARD_TOKEN).",
)
@common_options
@click.pass_obj
def dashboard(obj: Context, host, port, token):
    """Serve the dashboard (narratives, copy lineage, documents side by side, search,
    sources) over the database, read-only: it never writes and holds no connection between
    requests, so cron runs go on beside it.

    \b
    Examples:  narrascope dashboard --db ops.duckdb
               NARRASCOPE_DASHBOARD_TOKEN=$(openssl rand -hex 16) narrascope dashboard --host 0.0.0.0
    """
    import uvicorn

    from dashboards.app import create_app
    from dashboards.db import Busy

    if not is_loopback(host) and not token:
        raise click.UsageError(
            f"--host {host} serves beyond this machine: give --token (every request must "
            "carry it), or keep the default 127.0.0.1"
        )
    obj.existing_db()
    app = create_app(obj.db_path, token=token, embed=obj.config["embed"])
    try:
        app.state.store.warm()  # reads v_narratives once, before the first page asks
    except Busy:
        pass  # a run is writing: the first page that needs it reads it
    listening = _listen(host, port)  # before the URL is printed: a port taken is an error
    port = listening.getsockname()[1]  # --port 0: the one the system gave
    shown = f"[{host}]" if ":" in host else host
    # percent-encoded: a base64 token's "+" read as a space, "&" or "#" cut it (401)
    url = f"http://{shown}:{port}/" + (f"?token={quote(token, safe='')}" if token else "")
    click.echo(f"narrascope dashboard on {obj.db_path}: open {url}  (Ctrl-C stops it)")
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[listening])
    except KeyboardInterrupt:  # uvicorn stops gracefully on Ctrl-C, then raises it again
        click.echo("dashboard stopped")  # its way to stop: not an error, exit 0


def _listen(host: str, port: int):
    """A socket bound to ``host``:``port`` for the server, or a CommandError naming why not
    (another process serves that port)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise CommandError(f"cannot serve on {host}:{port}: {err.strerror or err}") from err
    return sock
