"""Upstream sources: each turns upstream answers into contract snapshots."""
