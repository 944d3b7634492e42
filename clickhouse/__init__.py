"""ClickHouse: schema migrations, client factory, queries and the local chdb server."""
