"""Bearer JWT (CONTRACT §4): who is asking, for which workspace, with which role."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import jwt
from fastapi import Depends, Header, Request

from api.errors import Forbidden, Unauthorized
from clickhouse.queries import Scope


class Role(StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    ANALYST = "analyst"


@dataclass(frozen=True)
class Principal:
    subject: str
    workspace: str
    role: Role

    @property
    def scope(self) -> Scope:
        return Scope.everything() if self.role is Role.ADMIN else Scope(self.workspace)

    def require_write(self) -> None:
        if self.role is Role.ANALYST:
            raise Forbidden("the analyst role can read but not write")


def decode_token(token: str, secret: str, algorithms: tuple[str, ...]) -> Principal:
    """The token's principal; 401 for a token that is invalid or has expired.

    A dashboard sends the same token with every request, so a verified token is remembered
    (by its exact text, with its ``exp``): verifying the signature again cost about 0.2 ms
    of CPU per request. Expiry is still checked on every use, as PyJWT checks it.
    """
    principal, expires = _verified(token, secret, algorithms)
    if expires <= time.time():
        raise Unauthorized("the token has expired; ask for a new one")
    return principal


@functools.lru_cache(maxsize=4096)  # successes only: an exception is not cached
def _verified(token: str, secret: str, algorithms: tuple[str, ...]) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=list(algorithms), options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired; ask for a new one") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    workspace, role = claims.get("workspace"), claims.get("role")
    if not isinstance(workspace, str) or not workspace:
        raise Unauthorized("the token has no 'workspace' claim")
    if role not in {r.value for r in Role}:
        raise Unauthorized("the token's 'role' claim must be admin, editor or analyst")
    return Principal(str(claims["sub"]), workspace, Role(role)), float(claims["exp"])


async def current_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """The token's principal, after charging one request to its rate budget (429 when spent)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send 'Authorization: Bearer <JWT>'")
    settings = request.app.state.settings
    principal = decode_token(
        authorization[7:].strip(), settings.jwt_secret, settings.jwt_algorithms
    )
    limiter = request.app.state.services.limiter
    if request.method in _READS and limiter.ahead(principal.workspace, principal.subject):
        # The read starts now; ResponseHooks awaits the charge before the answer goes out
        # (a 429 instead when refused) and turns its budget into X-RateLimit-* headers.
        charge = asyncio.ensure_future(limiter.charge(principal.workspace, principal.subject))
        charge.add_done_callback(_retrieved)
        request.state.rate_charge = charge
    else:
        request.state.rate_budget = await limiter.charge(principal.workspace, principal.subject)
    return principal


_READS = frozenset({"GET", "HEAD"})


def _retrieved(charge: asyncio.Future[object]) -> None:
    # A request that failed before its answer never awaits its charge: the outcome (a
    # RateLimited) is taken here, so that asyncio does not report it as never retrieved.
    if not charge.cancelled():
        charge.exception()


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
