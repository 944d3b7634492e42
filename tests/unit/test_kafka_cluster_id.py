"""The local Kafka's cluster id: never one that ``kafka-storage format -t`` reads as an option."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

from socialpulse.services.kafka import new_cluster_id


def ids_from(values: list[uuid.UUID]) -> Iterator[uuid.UUID]:
    yield from values


def test_an_id_starting_with_a_dash_is_drawn_again() -> None:
    # 0xf8 in the first byte encodes to '-' first in base64url
    dash = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
    plain = uuid.UUID(int=0x1234_5678_9ABC_DEF0_1234_5678_9ABC_DEF0)
    assert base64.urlsafe_b64encode(dash.bytes).decode().startswith("-")
    draws = ids_from([dash, dash, plain])
    cluster_id = new_cluster_id(lambda: next(draws))
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")


def test_ids_have_kafkas_format() -> None:
    for _ in range(2000):  # about 31 of these would start with '-' without the redraw
        cluster_id = new_cluster_id()
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert uuid.UUID(bytes=base64.urlsafe_b64decode(cluster_id + "==")).version == 4
