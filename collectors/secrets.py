"""Per-account OAuth tokens, encrypted at rest with Fernet, never printed.

Tokens live in Redis only as Fernet ciphertext (AES-128-CBC + HMAC-SHA256,
from ``cryptography``), under keys from ``SOCIALPULSE_SECRETS_KEY``. Several
comma-separated keys rotate: the first encrypts, all decrypt (MultiFernet).
In memory a token is a :class:`SecretToken`, whose ``repr``/``str`` hide it,
so a log line, a traceback or an f-string cannot leak it; code that must send
it calls ``reveal()`` right where the header is built.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import cast

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from redis.asyncio import Redis


class SecretsError(Exception):
    """A token could not be decrypted (wrong or rotated-out key, tampered value)."""


class SecretToken:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("empty token")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretToken('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretToken) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(("SecretToken", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretToken is not picklable; store it with TokenVault")


def fernet_from(keys: str | Sequence[str]) -> MultiFernet:
    """A MultiFernet from one key or a comma-separated list (newest first)."""
    names = keys.split(",") if isinstance(keys, str) else list(keys)
    cleaned = [k.strip() for k in names if k.strip()]
    if not cleaned:
        raise SecretsError("no Fernet key configured (SOCIALPULSE_SECRETS_KEY)")
    try:
        return MultiFernet([Fernet(k.encode()) for k in cleaned])
    except ValueError as exc:
        raise SecretsError(
            "SOCIALPULSE_SECRETS_KEY must be Fernet keys (32 url-safe base64 bytes)"
        ) from exc


class TokenVault:
    def __init__(self, redis: Redis, prefix: str, fernet: MultiFernet) -> None:
        self._redis = redis
        self._key = f"{prefix}:tokens"
        self._fernet = fernet

    @staticmethod
    def _field(platform: str, account_id: str) -> str:
        return f"{platform}:{account_id}"

    async def put(self, platform: str, account_id: str, token: SecretToken) -> None:
        ciphertext = self._fernet.encrypt(token.reveal().encode())
        await self._redis.hset(self._key, self._field(platform, account_id), ciphertext)

    async def get(self, platform: str, account_id: str) -> SecretToken | None:
        raw = await self._redis.hget(self._key, self._field(platform, account_id))
        if raw is None:
            return None
        try:
            return SecretToken(self._fernet.decrypt(raw).decode())
        except InvalidToken as exc:
            raise SecretsError(f"token of {platform}:{account_id} cannot be decrypted") from exc

    async def delete(self, platform: str, account_id: str) -> bool:
        return bool(await self._redis.hdel(self._key, self._field(platform, account_id)))

    async def rotate(self) -> int:
        """Re-encrypt every token with the newest key; returns how many."""
        stored = cast(dict[bytes, bytes], await self._redis.hgetall(self._key))
        async with self._redis.pipeline(transaction=True) as pipe:
            for name, ciphertext in stored.items():
                pipe.hset(self._key, name, self._fernet.rotate(ciphertext))
            await pipe.execute()
        return len(stored)
