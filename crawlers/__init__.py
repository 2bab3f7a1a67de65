"""Collecting pages: sources, scrapy spiders, safety middleware and the DuckDB item pipeline."""
