"""Stream workers: faust agents that turn raw snapshots into metrics."""
