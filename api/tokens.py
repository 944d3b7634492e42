"""Minting tokens for development and tests (production tokens come from the main backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from socialpulse.settings import ApiSettings


def mint(settings: ApiSettings, sub: str, workspace: str, role: str, hours: float = 24.0) -> str:
    claims = {
        "sub": sub,
        "workspace": workspace,
        "role": role,
        "exp": datetime.now(UTC) + timedelta(hours=hours),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
