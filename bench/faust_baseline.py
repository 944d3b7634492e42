"""The ceiling of a faust agent on this machine: one that takes records in batches and does nothing.

Run by ``bench.bench_worker`` in a subprocess (faust's worker owns its event
loop and exits the process) over the same topic the worker reads; prints one
JSON line with the rate from the first record to the N-th, per wall and per
CPU second. This is the baseline the engine in ``streams/engine.py`` replaced.

    python -m bench.faust_baseline --bootstrap 127.0.0.1:19092 --topic T --group G --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import faust


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True, help="app id (prefix of faust's own topics)")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()

    app = faust.App(
        args.group,
        broker=f"kafka://{args.bootstrap}",
        store="memory://",
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=max(4096, args.batch * 2),
        broker_max_poll_records=args.batch,
    )
    topic = app.topic(
        args.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    seen = 0
    started: tuple[float, float] | None = None

    @app.agent(topic)
    async def noop(stream: Any) -> None:
        nonlocal seen, started
        async for events in stream.take_events(args.batch, within=0.5):
            if started is None:
                started = (time.perf_counter(), time.process_time())
            seen += len(events)
            if seen >= args.n:
                wall = time.perf_counter() - started[0]
                cpu = time.process_time() - started[1]
                # faust redirects sys.stdout into its logger: write to fd 1 itself.
                result = json.dumps({"rate": seen / wall, "per_cpu_s": seen / cpu})
                os.write(1, result.encode() + b"\n")
                os._exit(0)  # faust's shutdown takes seconds and measures nothing

    sys.argv = [sys.argv[0], "worker", "--loglevel", "error"]
    app.main()


if __name__ == "__main__":
    main()
