"""Numbered migration steps; see ``clickhouse.migrations.runner``."""
