"""Verified tokens are remembered, but expiry is checked on every use."""

from __future__ import annotations

import time

import jwt
import pytest

from api.auth import Principal, Role, decode_token
from api.errors import Unauthorized

SECRET = "s" * 64


def test_a_remembered_token_still_expires() -> None:
    expires = int(time.time()) + 2
    token = jwt.encode({"sub": "u", "workspace": "ws", "role": "analyst", "exp": expires}, SECRET)
    for _ in range(2):  # the second use comes from the cache
        assert decode_token(token, SECRET, ("HS256",)) == Principal("u", "ws", Role.ANALYST)
    time.sleep(max(0.0, expires - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(token, SECRET, ("HS256",))


def test_a_token_is_checked_against_the_secret_it_is_used_with() -> None:
    token = jwt.encode({"sub": "u", "workspace": "ws", "role": "admin", "exp": 4102444800}, SECRET)
    assert decode_token(token, SECRET, ("HS256",)).role is Role.ADMIN
    with pytest.raises(Unauthorized, match="invalid token"):
        decode_token(token, "t" * 64, ("HS256",))
