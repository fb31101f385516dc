"""The OpenAPI document, completed with what FastAPI cannot infer from the routes.

- Every operation lists the error statuses the app really answers with (400, 401, 403, 404,
  409, 413, 429) and their envelope schema, instead of FastAPI's 422 (validation errors are 400
  VALIDATION_FAILED here);
- the bearer key scheme (`AS_…` project keys, `ASA_…` account keys) is declared and required, with
  the optional `x-project-id` header (the project an account key acts on; api/deps.py reads it).
Schemathesis (tests/integration/test_schemathesis.py) checks responses against this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_STATUSES = {
    "400": "Invalid input (VALIDATION_FAILED with details) or an action refused in this state",
    "401": "Missing, malformed, unknown or revoked API key",
    "403": "The key may not do this (e.g. a project key on the account API)",
    "404": "No such resource in this project",
    "409": "Conflict with the resource's current state or an existing one",
    "413": "Request body too large",
    "429": "Rate limit of the key exceeded (Retry-After)",
}
ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["success", "message", "error"],
    "properties": {
        "success": {"const": False},
        "message": {"type": "string", "description": "the same text as error.message"},
        "error": {
            "type": "object",
            "required": ["message", "code", "status"],
            "properties": {
                "message": {"type": "string"},
                "code": {"type": "string"},
                "status": {"type": "integer"},
                "details": {},
            },
        },
    },
}
PUBLIC_PREFIXES = ("/t/", "/u/")
KEYLESS = ("/v1/jwks.json",)  # answered without a key (and so without a project)
PROJECT_HEADER = {
    "name": "x-project-id",
    "in": "header",
    "required": False,
    "description": "With an account key (ASA_…): the project the request acts on",
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}], "title": "X-Project-Id"},
}


def install(app: FastAPI) -> None:
    """Make app.openapi() return the completed document (built once, then cached by FastAPI)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = complete(schema)
        return app.openapi_schema

    # FastAPI's documented way to extend the generated document is replacing this method
    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses and the security scheme added to a generated document."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorEnvelope"] = ERROR_ENVELOPE
    components["securitySchemes"] = {
        "bearerKey": {
            "type": "http",
            "scheme": "bearer",
            "description": "An AS_… project key or an ASA_… account key",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            _complete_operation(operation, public=path.startswith(PUBLIC_PREFIXES))
            if not path.startswith(PUBLIC_PREFIXES) and path not in KEYLESS:
                operation.setdefault("parameters", []).append(PROJECT_HEADER)
    return schema


def _complete_operation(operation: dict[str, Any], *, public: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for status, description in ERROR_STATUSES.items():
        responses.setdefault(
            status, {"description": description, "content": {"application/json": {"schema": ref}}}
        )
    if not public:
        operation.setdefault("security", [{"bearerKey": []}])
