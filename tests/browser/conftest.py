"""Browser tests: headless Chromium (Debian's ``chromium``) driven through playwright.

playwright only drives the system browser (``executable_path``); it never downloads one.
Without Chromium or playwright the tests are skipped, saying which one is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

import pytest


def chromium_path() -> str | None:
    """``SOCIALPULSE_CHROMIUM`` if set, else Debian's ``chromium`` on the PATH."""
    return os.environ.get("SOCIALPULSE_CHROMIUM") or shutil.which("chromium")


def missing() -> str | None:
    if chromium_path() is None:
        return (
            "headless Chromium is not installed: `apt-get install chromium` (scripts/dev setup"
            " does it) or point SOCIALPULSE_CHROMIUM at a Chromium binary"
        )
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: pip install -e '.[test]'"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives headless Chromium (Debian's chromium) through playwright"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    # Lets a fixture's teardown see whether the test failed (to keep a screenshot of it).
    report = yield
    if call.when == "call":
        item.stash[FAILED] = bool(getattr(report, "failed", False))
    return report


FAILED = pytest.StashKey[bool]()
