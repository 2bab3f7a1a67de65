"""narrascope's dashboard: a local web app over the same DuckDB file, read-only.

    narrascope dashboard --db ops.duckdb      # then open http://127.0.0.1:8050/

Starlette serves server-rendered Jinja2 pages (dashboards/pages.py) from the analysts' views
(dashboards/queries.py); charts are drawn by uPlot, vendored under dashboards/static/. Every
asset is served by the app itself: no CDN, no web fonts, no third-party request."""
