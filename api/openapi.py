"""The OpenAPI document as the API really answers: CONTRACT §4's error body everywhere.

FastAPI documents its own 422 body (``HTTPValidationError``), which this API never
sends (``api.errors`` converts every error to ``{"error": {"code", "message"}}``). The
generated document is rewritten once: every 422 refers to :class:`ErrorBody`, and the
errors every ``/v1`` route can answer (401, 429; 403 on writes; 404 with a path
parameter) are added with an example each.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from api import schemas, schemas_sync
from api.errors import error_body


class ErrorDetail(BaseModel):
    code: str = Field(
        description="stable, machine-readable: invalid_input, unauthorized, forbidden,"
        " not_found, conflict, rate_limited, unavailable, ..."
    )
    message: str = Field(description="what went wrong and what to change, for a person")


class ErrorBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"error": {"code": "not_found", "message": "no data for instagram:1234 in ws-1"}}
            ]
        }
    )

    error: ErrorDetail


_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("the request parses but cannot be answered", "invalid_input",
          "'from' (2026-11-22T00:00:00.000Z) must be earlier than 'to' (2026-11-21T00:00:00.000Z)"),
    401: ("no valid bearer token", "unauthorized", "send 'Authorization: Bearer <JWT>'"),
    403: ("the token's role may not do this", "forbidden",
          "the analyst role can read but not write"),
    404: ("not visible to this token (or does not exist)", "not_found",
          "no data for instagram:1234 in workspace 'ws-1' (not tracked there, or not observed"
          " yet)"),
    409: ("the resource is not in a state that allows this", "conflict",
          "run 3f9c2a7e0b5d4c1e8a6f2d9b7c4e1a05 is STARTED; only a PENDING run can be revoked"),
    422: ("a parameter or the body does not parse", "invalid_input",
          "limit: Input should be less than or equal to 500"),
    429: ("the token's rate budget is spent; retry after Retry-After seconds", "rate_limited",
          "too many requests for this token: 1200 per minute with bursts of 200; retry in 1 s"),
    503: ("a service this needs did not answer; retry later", "unavailable",
          "Kafka did not take the sync request within 5 s; try again"),
}  # fmt: skip
_RATE_HEADERS = {
    "Retry-After": {"description": "seconds until a request fits", "schema": {"type": "integer"}},
    "X-RateLimit-Limit": {"description": "requests per minute", "schema": {"type": "integer"}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the given error statuses with the error body."""
    return {status: _response(status) for status in statuses}


def _response(status: int) -> dict[str, Any]:
    description, code, message = ERRORS[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _REF, "example": error_body(code, message)}},
    }
    if status == 429:
        response["headers"] = _RATE_HEADERS
    return response


def _route_errors(path: str, method: str) -> list[int]:
    if not path.startswith("/v1/"):
        return []
    statuses = [401, 429]
    if method in ("post", "put", "patch", "delete"):
        statuses.append(403)
    if "{" in path:
        statuses.append(404)
    return statuses


def _documented_models() -> dict[str, type[BaseModel]]:
    modules = (schemas, schemas_sync)
    return {
        name: model
        for module in modules
        for name, model in vars(module).items()
        if isinstance(model, type)
        and issubclass(model, BaseModel)
        and model.__module__ == module.__name__
    }


def _restore_examples(components: dict[str, Any]) -> None:
    """FastAPI drops null values from the document, examples included: put them back."""
    for name, model in _documented_models().items():
        examples = model.model_json_schema().get("examples")
        if examples and name in components:
            components[name]["examples"] = examples


def rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorBody"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    _restore_examples(components)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted({*_route_errors(path, method), 422} & set(ERRORS)):
                if status == 422 and "422" not in responses:
                    continue
                documented = responses.get(str(status), {})
                responses[str(status)] = {**_response(status), **_keep(documented)}
    return schema


def _keep(documented: dict[str, Any]) -> dict[str, Any]:
    """A route's own description of an error wins over the generic one."""
    description = documented.get("description")
    generic = {"Validation Error", "Successful Response", None}
    return {} if description in generic else {"description": description}


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rewrite(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
