"""The account-state table, written to the changelog partition of its source records.

A faust table's changelog partition must equal the partition its source
records came from: on a rebalance, the worker that gets source partition P
recovers state from changelog partition P. faust takes it from the current
event, which a batch does not have; ``use_partitioner`` hashed the keys with
the producer's partitioner and put nearly every key in a different partition
from its source (seen as changelog records piling up in one partition). So
each batch tells the table where its keys came from.
"""

from __future__ import annotations

from typing import Any

import faust
from aiokafka.partitioner import murmur2


class SourcePartitionedTable(faust.Table[bytes, Any]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source_partitions: dict[bytes, int] = {}

    def partition_for_key(self, key: Any) -> int:
        partition = self.source_partitions.get(key)
        if partition is None:
            # Not seen in this batch: the default partitioner's choice, which is
            # what producers of the raw topics use.
            n = self.partitions or self.app.conf.topic_partitions
            partition = (murmur2(key) & 0x7FFFFFFF) % n
        return partition
