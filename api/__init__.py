"""The read API: FastAPI over ClickHouse, for dashboards and sync control."""
