"""Per-account tokens: Fernet ciphertext at rest in real Redis, never in a log line."""

from __future__ import annotations

import logging
import pickle

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from collectors.secrets import SecretsError, SecretToken, TokenVault, fernet_from
from socialpulse.settings import CollectorSettings
from tests.collectors.helpers import redis_for
from tests.conftest import Namespace

TOKEN = "EAAG-very-secret-oauth-token-1234"


def test_a_token_never_shows_in_repr_str_format_logs_or_pickles(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = SecretToken(TOKEN)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").info("token %s %r", token, token)
        logging.getLogger("t").info(f"token {token} {token!r} {[token]}")
    shown = caplog.text + repr(token) + str(token) + f"{token:>40}"
    assert TOKEN not in shown and "**********" in shown
    assert token.reveal() == TOKEN
    with pytest.raises(TypeError):
        pickle.dumps(token)
    settings = CollectorSettings(
        apify_token=SecretStr(TOKEN), webhook_url="http://h", webhook_secret=SecretStr(TOKEN)
    )
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


@pytest.mark.redis_db
async def test_tokens_are_encrypted_at_rest_and_rotate(ns: Namespace) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    async with redis_for(ns) as redis:
        vault = TokenVault(redis, ns.name, fernet_from(old))
        await vault.put("instagram", "1784", SecretToken(TOKEN))
        raw = await redis.hget(f"{ns.name}:tokens", "instagram:1784")
        assert raw is not None and TOKEN.encode() not in raw
        assert await vault.get("instagram", "1784") == SecretToken(TOKEN)
        assert await vault.get("instagram", "404") is None

        rotating = TokenVault(redis, ns.name, fernet_from(f"{new},{old}"))
        assert await rotating.rotate() == 1
        assert await TokenVault(redis, ns.name, fernet_from(new)).get("instagram", "1784") == (
            SecretToken(TOKEN)
        )
        with pytest.raises(SecretsError):
            await vault.get("instagram", "1784")  # the old key alone no longer opens it
        assert await rotating.delete("instagram", "1784")


def test_a_bad_key_is_refused_with_a_message() -> None:
    with pytest.raises(SecretsError, match="Fernet keys"):
        fernet_from("not-a-key")
    with pytest.raises(SecretsError, match="no Fernet key"):
        fernet_from(" , ")
