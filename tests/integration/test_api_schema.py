"""Schemathesis against the read API's own OpenAPI schema, on the real services.

Every operation the schema lists gets generated requests, valid and invalid, with a valid
editor token of a workspace that tracks accounts with data (``test_api_reads``' feed, through
Kafka and a real worker; this module gets its own namespace). No answer may be a server error,
and every answer with a documented body must match that body's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import Case, HookContext
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from api.tokens import mint
from socialpulse.settings import ApiSettings
from tests.integration import test_api_reads
from tests.integration.test_api_reads import ACCOUNTS, WS_A, Api

pytestmark = [pytest.mark.kafka, pytest.mark.clickhouse_db, pytest.mark.redis_db]

api = test_api_reads.api  # the same module-scoped fixture: this module gets its own feed

# Generated ids almost never name an account with data: see flatmap_path_parameters().
KNOWN = sorted({*ACCOUNTS, *WS_A})
SCRATCH = "ws-scratch"
MAX_EXAMPLES = 25  # per operation and phase: the whole module stays around a minute


# The document the server serves at /openapi.json; loaded at import so that every operation is
# its own test (schemathesis' fixture-based loader needs a pytest internal that 9.x removed).
schema = schemathesis.openapi.from_dict(create_app(ApiSettings()).openapi())
schema.config.generation.update(max_examples=MAX_EXAMPLES)


@pytest.fixture(scope="module", autouse=True)
def no_rate_limit() -> Iterator[None]:
    """Hundreds of requests a minute from one token are the point here, not abuse; the
    setting reaches the API through the environment (autouse: before the API starts)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOCIALPULSE_RATE_LIMIT_PER_MINUTE", "0")
        yield


@pytest.fixture(scope="module")
def target(api: Api) -> tuple[str, dict[str, dict[str, str]]]:
    """The served API's base URL, and valid editor tokens of the workspace with the feed and
    of a scratch one (see untracks())."""
    client, settings = api
    headers = {
        workspace: {
            "Authorization": f"Bearer {mint(settings, 'schemathesis', workspace, 'editor')}"
        }
        for workspace in ("ws-a", SCRATCH)
    }
    return str(client.base_url).rstrip("/"), headers


def untracks(case: Case[Any]) -> bool:
    return case.method.upper() == "DELETE" and case.operation.path.startswith("/v1/accounts/")


@schema.hook
def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Most fuzzed account paths name an account of the feed (visible with data, tracked
    without data, or another workspace's), drawn by Hypothesis so that a failing example
    replays and shrinks; the coverage phase keeps its own generated ids."""
    if path_parameters is None or "account_id" not in path_parameters:
        return st.just(path_parameters)
    known = st.sampled_from(KNOWN).map(
        lambda key: {**path_parameters, "platform": key[0], "account_id": key[1]}
    )
    # Hypothesis favours the first branch (it is the "simpler" one).
    return st.one_of(known, st.just(path_parameters))


@schema.parametrize()
def test_no_server_errors_and_answers_match_the_schema(
    case: Case[Any], target: tuple[str, dict[str, dict[str, str]]]
) -> None:
    base, headers = target
    # Untracking the feed's accounts in ws-a would turn every later read into a 404.
    token = headers[SCRATCH if untracks(case) else "ws-a"]
    case.call_and_validate(
        base_url=base, headers=token, checks=[not_a_server_error, response_schema_conformance]
    )
