"""The Prometheus alert rules parse and behave as their unit tests say (promtool)."""

from __future__ import annotations

import shutil
import subprocess

from socialpulse.settings import REPO_ROOT

PROMETHEUS = REPO_ROOT / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool missing: scripts/dev setup installs Debian's prometheus package"
    return found


def test_rules_are_valid() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(PROMETHEUS / "alerts.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_fire_and_stay_silent_as_specified() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        capture_output=True, text=True, check=False, cwd=PROMETHEUS,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
