"""Stream workers: raw snapshots in batches through pure metric code into ClickHouse."""
