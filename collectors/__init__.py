"""Collectors: poll upstream sources and emit raw snapshots to Kafka."""
