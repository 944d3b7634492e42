"""``/dashboard``: the static dashboard page (HTML, plain JS modules, vendored uPlot).

The page itself needs no token: it holds no data. It reads everything from ``/v1`` with the
bearer token a person pastes into it, so it sees exactly what that token may see.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"

# Every script, style and font comes from this server, so a page that tried to load anything
# from elsewhere (a CDN) is refused by the browser; the browser test relies on that.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        # uPlot positions its cursor and legend through inline style attributes.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Revalidate (ETag / Last-Modified) on every load, so a new release shows at once.
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["dashboard"], include_in_schema=False)
_files = StaticFiles(directory=STATIC_DIR, check_dir=False)


@router.get("/dashboard")
def dashboard_redirect() -> RedirectResponse:
    # Relative, so the page's relative asset URLs also work behind a path prefix.
    return RedirectResponse("dashboard/", status_code=307)


@router.get("/dashboard/{path:path}")
async def dashboard_file(path: str, request: Request) -> Response:
    if not (STATIC_DIR / "index.html").is_file():
        # A wheel built without package data has no static folder: say so rather than 500.
        raise NotFound("the dashboard's files are not installed with this API")
    response = await _files.get_response(path or "index.html", request.scope)
    response.headers.update(HEADERS)
    return response
