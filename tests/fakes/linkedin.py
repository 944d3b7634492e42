"""A fake LinkedIn REST API: organizations by vanity name and networkSizes, versioned headers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from tests.fakes.core import FakeUpstream

PAYLOADS = Path(__file__).parent / "payloads"
TOKEN = "AQXlinkedintesttoken"


def li_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"status": status, "serviceErrorCode": 100, "code": code, "message": message},
        status_code=status,
    )


def make_linkedin() -> FakeUpstream:
    data: dict[str, Any] = json.loads((PAYLOADS / "linkedin.json").read_text())
    fake = FakeUpstream("linkedin")
    by_id = {str(o["id"]): o for o in data["organizations"]}

    @fake.app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return li_error(
                401,
                "REVOKED_ACCESS_TOKEN",
                "The token used in the request has been revoked by the user",
            )
        if not request.headers.get("linkedin-version"):
            return li_error(
                426,
                "VERSION_MISSING",
                "A version must be present. Please specify a version by adding the "
                "LinkedIn-Version header.",
            )
        return await call_next(request)

    @fake.app.get("/rest/organizations", response_model=None)
    async def organizations(q: str, vanityName: str) -> Any:  # noqa: N803 - the API's name
        found = [o for o in data["organizations"] if o["vanityName"] == vanityName.lower()]
        public = [
            {k: v for k, v in o.items() if k in ("id", "vanityName", "localizedName")}
            for o in found
        ]
        return {"elements": public, "paging": {"count": 10, "start": 0, "links": []}}

    @fake.app.get("/rest/networkSizes/{urn}", response_model=None)
    async def network_size(urn: str, edgeType: str) -> Any:  # noqa: N803
        org = by_id.get(urn.rsplit(":", 1)[-1])
        if org is None or not urn.startswith("urn:li:organization:"):
            return li_error(404, "NOT_FOUND", f"Organization {urn} not found")
        if org.get("admin") is False:
            return li_error(
                403,
                "ACCESS_DENIED",
                f"Not enough permissions to access: networkSizes.GET.20250601 for {urn}",
            )
        return {"firstDegreeSize": org["firstDegreeSize"]}

    return fake
