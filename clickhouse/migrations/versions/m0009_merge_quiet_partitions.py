"""The per-account time series: a monthly partition quiet for an hour is merged into one part.

The API's timeseries and follower-changes reads are ``FINAL`` point reads of one account's
key range, and chdb pays about 1.3 ms per part such a read touches (docs/benchmarks.md,
"Read API latency"). ClickHouse's merge selector stops merging a partition once its parts
differ enough in size, so a past month kept the 5-6 parts its sync waves left (measured:
a month of hourly windows for 10k accounts at 6 parts hours after its last insert). With
``min_age_to_force_merge_on_partition_only``, ``min_age_to_force_merge_seconds`` merges a
partition into one part only when *every* part in it is older than that: past months (and
a month just closed by late records) become one part an hour after their last write, while
the current month, written every second, is left to the usual merges. The price is one
rewrite of a past month, and another after each late write into it (records up to the
allowed lateness, 7 days by default, behind the newest observation).
The raw snapshot tables are left alone: no API read touches them.
"""

TABLES = ("account_metrics_hourly", "account_metrics_daily", "follower_changes")

FORWARDS = [
    f"ALTER TABLE {{db}}.{table} MODIFY SETTING min_age_to_force_merge_seconds = 3600,"
    " min_age_to_force_merge_on_partition_only = 1"
    for table in TABLES
]

BACKWARDS = [
    f"ALTER TABLE {{db}}.{table} RESET SETTING min_age_to_force_merge_seconds,"
    " min_age_to_force_merge_on_partition_only"
    for table in reversed(TABLES)
]
