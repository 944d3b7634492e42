"""Per-account OAuth tokens from the encrypted store, wired to Instagram Graph and LinkedIn.

The whole collector (wiring, scheduler, real HttpUpstream) on real Redis and
Kafka against the fake Graph, LinkedIn and Apify APIs: accounts with a token
are read with it, an account without one fails its run as ``auth`` (visible
in its run and sync status), and Instagram accounts without a Graph token
are read through the Apify actor instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from collectors.clock import ManualClock
from collectors.registry import TrackedAccount
from collectors.secrets import SecretToken, TokenVault, fernet_from
from socialpulse.contract import Platform
from tests.collectors.helpers import TEST_RATES, collector_kit, read_all
from tests.conftest import Namespace
from tests.fakes import instagram_graph, linkedin
from tests.fakes.apify import TOKEN as APIFY_TOKEN
from tests.fakes.apify import ApifyWorld, make_apify
from tests.fakes.core import FakeUpstream

pytestmark = [pytest.mark.kafka, pytest.mark.redis_db]

T0 = 1_795_000_000.0
KEY = Fernet.generate_key().decode()
ACME = "17841405822304914"  # an Instagram business account that connected the app
SCRAPER = "apify:apify/instagram-profile-scraper"


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, tuple[FakeUpstream, str]]]:
    graph, li, apify = (
        instagram_graph.make_instagram_graph(),
        linkedin.make_linkedin(),
        make_apify(ApifyWorld()),
    )
    with graph.running() as g, li.running() as l_url, apify.running() as a:
        yield {
            "instagram_graph": (graph, f"{g}/{instagram_graph.VERSION}"),
            "linkedin": (li, f"{l_url}/rest"),
            "apify": (apify, a),
        }


def settings_for(fakes: dict[str, tuple[FakeUpstream, str]], **extra: Any) -> dict[str, Any]:
    for fake, _ in fakes.values():
        fake.reset()
    return {
        "apify_token": APIFY_TOKEN,
        "upstream_base_urls": {name: url for name, (_, url) in fakes.items()},
        "rate_limits": TEST_RATES,
        **extra,
    }


def tracked(platform: Platform, handle: str, account_id: str | None) -> TrackedAccount:
    return TrackedAccount(platform, handle, account_id, frozenset({"w"}))


ACCOUNTS = [
    tracked(Platform.LINKEDIN, "linkedin", "2414183"),  # token stored
    tracked(Platform.LINKEDIN, "microsoft", "1035"),  # no token
    tracked(Platform.LINKEDIN, "rotated", "1337"),  # a token under a key no longer configured
    tracked(Platform.INSTAGRAM, "acme.coffee", ACME),  # Graph token stored
    tracked(Platform.INSTAGRAM, "natgeo", None),  # a handle: the scraper's
    tracked(Platform.INSTAGRAM, "user7", "9000007"),  # an id without a token: the scraper's
]


async def test_tokens_from_the_store_and_a_missing_one_is_an_auth_failure(
    ns: Namespace, fakes: dict[str, tuple[FakeUpstream, str]]
) -> None:
    clock = ManualClock(T0)
    overrides = settings_for(fakes, secrets_key=KEY)
    async with collector_kit(ns, clock, accounts=ACCOUNTS, **overrides) as kit:
        vault = TokenVault(kit.redis, ns.name, fernet_from(KEY))
        await vault.put("linkedin", "2414183", SecretToken(linkedin.TOKEN))
        await vault.put("instagram", ACME, SecretToken(instagram_graph.TOKEN))
        old_key = fernet_from(Fernet.generate_key().decode())
        await TokenVault(kit.redis, ns.name, old_key).put("linkedin", "1337", SecretToken("x"))

        await kit.collector.service.cycle()

        profiles = await read_all(ns.urls.kafka_bootstrap, ns.topics.profile_snapshots)
        events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)
        items = await read_all(ns.urls.kafka_bootstrap, ns.topics.upstream_items)
        microsoft = await kit.collector.runs.status("linkedin:1035")

    assert {p["_key"]: p["source"] for p in profiles} == {
        "linkedin:2414183": "api:linkedin",
        f"instagram:{ACME}": "api:instagram_graph",
        "instagram:787132": SCRAPER,  # natgeo
        "instagram:9000007": SCRAPER,
    }
    final = {e["_key"]: e for e in events if e["state"] in ("SUCCESS", "FAILURE")}
    assert Counter(e["state"] for e in final.values()) == {"SUCCESS": 4, "FAILURE": 2}
    for key, hint in (("linkedin:1035", "no access token stored"), ("linkedin:1337", "decrypt")):
        assert final[key]["error_class"] == "auth", final[key]
        assert hint in final[key]["error"]
    assert "socialpulse accounts set-token linkedin 1035" in final["linkedin:1035"]["error"]
    assert microsoft is not None and microsoft["last_error"]["class"] == "auth"  # for the API

    # Nothing was sent for the accounts without a usable token; the others sent theirs.
    li_fake, graph_fake = fakes["linkedin"][0], fakes["instagram_graph"][0]
    assert [c.raw_path for c in li_fake.calls("/rest/networkSizes/*")] == [
        "/rest/networkSizes/urn%3Ali%3Aorganization%3A2414183"
    ]
    assert {c.headers["authorization"] for c in li_fake.calls()} == {f"Bearer {linkedin.TOKEN}"}
    assert graph_fake.calls() and {c.headers["authorization"] for c in graph_fake.calls()} == {
        f"Bearer {instagram_graph.TOKEN}"
    }
    (run,) = fakes["apify"][0].calls("*/run-sync-get-dataset-items")
    assert sorted(run.json()["usernames"]) == ["natgeo", "user7"]  # not the Graph account
    # The raw item of each read account says which source read it.
    assert {i["_key"]: i["source"] for i in items}[f"instagram:{ACME}"] == "api:instagram_graph"


async def test_without_a_token_store_linkedin_says_so_and_instagram_is_scraped(
    ns: Namespace, fakes: dict[str, tuple[FakeUpstream, str]]
) -> None:
    clock = ManualClock(T0)
    accounts = [ACCOUNTS[0], ACCOUNTS[3]]
    async with collector_kit(ns, clock, accounts=accounts, **settings_for(fakes)) as kit:
        await kit.collector.service.cycle()
        events = await read_all(ns.urls.kafka_bootstrap, ns.topics.sync_events)

    final = {e["_key"]: e for e in events if e["state"] in ("SUCCESS", "FAILURE")}
    assert final["linkedin:2414183"]["state"] == "FAILURE"
    assert final["linkedin:2414183"]["error_class"] == "auth"
    assert "SOCIALPULSE_SECRETS_KEY" in final["linkedin:2414183"]["error"]
    assert not fakes["instagram_graph"][0].calls() and not fakes["linkedin"][0].calls()
    (run,) = fakes["apify"][0].calls("*/run-sync-get-dataset-items")
    assert run.json()["usernames"] == ["acme.coffee"]  # the Graph account, asked of the scraper
