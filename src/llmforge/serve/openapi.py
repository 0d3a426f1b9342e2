"""The OpenAPI document as the API really behaves: FastAPI's, plus what it cannot see.

FastAPI knows the request and success schemas, but not that every route but a few takes a bearer
credential, which permission each needs, or that every error is ``{"error": {"type", "message"}}``
(it would describe its own 422 ``{"detail": [...]}``, which this API never sends). So each
operation gets: the ``bearer`` security scheme and ``x-permission`` where a permission guards it,
the error responses it can give (401, 403 and 429 where credentials apply, the library's 400, 404,
409 and 503 everywhere, 422 for an invalid body), all in the one error shape.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from llmforge.serve.auth import AUTHENTICATED

ERROR_SCHEMA = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["type", "message"],
                             "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}},
}
ALWAYS = {"400": "Bad input", "404": "Not found", "409": "Conflict (training)", "413": "Body too large",
          "422": "Invalid request body or parameters", "503": "Busy, stopping, or a model that cannot load"}
WITH_CREDENTIALS = {"401": "Missing, malformed, invalid or expired credentials",
                    "429": "Over a rate limit (see Retry-After)"}
WITH_PERMISSION = {"403": "The caller lacks the permission, or the agent is outside its key's scope"}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) describe security and errors."""
    build = app.openapi   # FastAPI's own, which caches its result in app.openapi_schema
    described: list[bool] = []

    def openapi() -> dict[str, Any]:
        schema = build()
        if not described:
            describe(schema, route_permissions(app))
            described.append(True)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe(schema: dict[str, Any], permissions: dict[tuple[str, str], str]) -> dict[str, Any]:
    """``schema`` with security, ``x-permission`` and the error responses of each operation."""
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {
        "type": "http", "scheme": "bearer",
        "description": "An API key (lf_...) or an access token from POST /v1/auth/login."}}
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            permission = permissions.get((method.upper(), path))
            responses = dict(ALWAYS)
            if permission is not None:
                operation["security"] = [{"bearer": []}]
                responses |= WITH_CREDENTIALS
                if permission != AUTHENTICATED:
                    operation["x-permission"] = permission
                    responses |= WITH_PERMISSION
            for code, description in responses.items():
                operation.setdefault("responses", {})[code] = {
                    "description": description,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    return schema


def route_permissions(app: FastAPI) -> dict[tuple[str, str], str]:
    """(method, path) → the permission its ``require`` dependency names, for guarded routes."""
    found = {}
    for route in api_routes(app):
        declared = [getattr(dep.call, "permission", None) for dep in route.dependant.dependencies]
        declared = [permission for permission in declared if permission]
        if declared:
            found.update({(method, route.path): declared[0] for method in route.methods})
    return found


def api_routes(app: FastAPI) -> list[Any]:
    """The app's routes, its included routers' too: newer FastAPI keeps an included router as one
    entry of ``app.routes`` and offers ``iter_route_contexts`` to walk into it."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:   # older FastAPI copies an included router's routes into app.routes
        return [route for route in app.routes if hasattr(route, "dependant")]
    return [c.original_route for c in iter_route_contexts(app.routes) if hasattr(c.original_route, "dependant")]
