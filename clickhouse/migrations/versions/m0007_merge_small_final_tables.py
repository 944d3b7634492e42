"""``accounts`` and ``account_latest``: parts older than a minute are merged into one.

Both are small and every per-account read of them is a ``FINAL`` read, whose cost grows
with the number of parts it touches (about 1.5 ms of chdb per part and point read,
docs/benchmarks.md "Read API latency"). ClickHouse's merge selector leaves a few small parts
next to the big one when inserts stop (it waits for more of a similar size), so a tracking
change or the last batch of a sync wave kept those reads paying for 4-5 parts until the
next inserts came. ``min_age_to_force_merge_seconds`` merges every part older than that
into one whatever its size. Under continual inserts nothing changes: parts younger than
a minute are merged by the usual selector (2-6 active parts of ``account_latest`` measured
with two inserts a second, with or without this setting). At most one forced merge of
the whole table a minute is the price; both tables hold one row per account (and
workspace), so that is a few MB for tens of thousands of accounts. Not for the large
partitioned tables, where it would rewrite the current month's partition over and over.
"""

FORWARDS = [
    "ALTER TABLE {db}.accounts MODIFY SETTING min_age_to_force_merge_seconds = 60",
    "ALTER TABLE {db}.account_latest MODIFY SETTING min_age_to_force_merge_seconds = 60",
]

BACKWARDS = [
    "ALTER TABLE {db}.account_latest RESET SETTING min_age_to_force_merge_seconds",
    "ALTER TABLE {db}.accounts RESET SETTING min_age_to_force_merge_seconds",
]
