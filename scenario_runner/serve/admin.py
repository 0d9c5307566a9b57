"""The admin HTTP API (FastAPI): GripMock's paths and payloads, plus the sessions' own.

The session a request is about is named by the ``X-Mock-Session`` header (GripMock's
``X-Gripmock-Session`` works too); without one a request is about the global scope: the
stubs every session sees and the calls that carried no session. Any request that carries a
session keeps it alive (and creates it when it is new); ``X-Mock-Session-TTL`` sets its TTL.

Errors are GripMock's ``{"error": "message"}`` with a 4xx status, bad input included (a body
that is not JSON, a stub the protos refuse, a missing field): never a 500.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from ..sessions import SessionNotFoundError
from ..sessions.model import StoreError
from . import models
from .core import BadRequest, SharedMock, parse_ttl
from .records import rfc3339
from .sessions import GLOBAL, GLOBAL_STORE_ID

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": models.ErrorMessage, "description": "Bad request"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": models.ErrorMessage, "description": "Not found"}
}


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def _error(message: str, status: int) -> _JSON:
    return _JSON({"error": message}, status_code=status)


def _ok() -> dict[str, str]:
    return {"message": "ok", "time": rfc3339(time.time())}


def _stubs_body_schema() -> dict[str, Any]:
    stub = {"$ref": "#/components/schemas/Stub"}
    schema = {"oneOf": [stub, {"type": "array", "items": stub}]}
    return {
        "requestBody": {
            "required": True,
            "description": "one GripMock stub or a list of them",
            "content": {"application/json": {"schema": schema}},
        }
    }


async def session_of(
    request: Request,
    x_mock_session: Annotated[
        str | None, Header(alias="X-Mock-Session", description="the session (none: global)")
    ] = None,
    x_gripmock_session: Annotated[
        str | None, Header(alias="X-Gripmock-Session", description="GripMock's name for it")
    ] = None,
    x_mock_session_ttl: Annotated[
        str | None,
        Header(alias="X-Mock-Session-TTL", description='the session\'s TTL: "30s", "250ms"'),
    ] = None,
) -> str:
    session_id = (x_mock_session or x_gripmock_session or "").strip()
    if session_id == GLOBAL_STORE_ID:
        raise BadRequest(f"the session id {GLOBAL_STORE_ID!r} is reserved")
    if x_mock_session_ttl is not None and session_id == GLOBAL:
        raise BadRequest("X-Mock-Session-TTL needs a session (X-Mock-Session)")
    ttl = parse_ttl(x_mock_session_ttl) if x_mock_session_ttl is not None else None
    mock: SharedMock = request.app.state.mock
    await mock.touch(session_id)
    if x_mock_session_ttl is not None:
        await mock.set_ttl(session_id, ttl)
    return session_id


Session = Annotated[str, Depends(session_of)]


class BearerToken:
    """Asks every ``/api/`` request but the health checks for ``Authorization: Bearer
    TOKEN`` (``--admin-token``); a 401 with GripMock's error body otherwise."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if (
            scope["type"] == "http"
            and path.startswith("/api/")
            and not path.startswith("/api/health/")
        ):
            given = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
            if not hmac.compare_digest(given, self.expected):
                message = "missing or wrong admin token (Authorization: Bearer TOKEN)"
                await _error(message, 401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class JSONBodies:
    """Reads every request body as JSON, whatever its Content-Type says.

    GripMock does, and its users' ``curl -d @stub.json`` sends a form's Content-Type.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def create_app(mock: SharedMock, token: str | None = None) -> FastAPI:
    app = FastAPI(
        title="scenario-run serve: admin API",
        version=__version__,
        description="GripMock's admin API for the shared mock of `scenario-run serve`.",
        dependencies=[Depends(session_of)],
        default_response_class=_JSON,
    )
    app.state.mock = mock
    app.add_middleware(JSONBodies)
    if token:
        app.add_middleware(BearerToken, token=token)

    @app.exception_handler(StoreError)
    async def store_away(request: Request, exc: StoreError) -> Response:
        # The database went away (a restart): nothing was changed; the client may retry.
        return _error(str(exc), 503)

    @app.exception_handler(SessionNotFoundError)
    async def gone(request: Request, exc: SessionNotFoundError) -> Response:
        # Another process sharing the store removed the session while this request ran.
        return _error(f"the session was removed meanwhile: {exc}", 409)

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return _error(exc.message, exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
        return _error("; ".join(problems) or "invalid request", 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(str(exc.detail), exc.status_code)

    # -- health --------------------------------------------------------------------------

    @app.get("/api/health/liveness", tags=["healthcheck"], response_model=models.MessageOK)
    async def liveness() -> Any:
        return _JSON(_ok())

    @app.get(
        "/api/health/readiness",
        tags=["healthcheck"],
        response_model=models.MessageOK,
        responses={503: {"model": models.MessageOK, "description": "Not ready"}},
    )
    async def readiness() -> Any:
        if not mock.ready:
            return _JSON({"message": "not ready", "time": rfc3339(time.time())}, 503)
        return _JSON(_ok())

    # -- stubs ---------------------------------------------------------------------------

    @app.get("/api/stubs", tags=["stubs"], response_model=list[models.Stub])
    async def list_stubs(session: Session) -> Any:
        return _JSON([posted.raw for posted in mock.visible(session)])

    @app.post(
        "/api/stubs",
        tags=["stubs"],
        response_model=list[str],
        responses=_ERRORS,
        openapi_extra=_stubs_body_schema(),
    )
    async def add_stubs(request: Request, session: Session) -> Any:
        return _JSON(await mock.add_stubs(session, await request.body()))

    @app.delete("/api/stubs", tags=["stubs"], status_code=204)
    async def purge_stubs(session: Session) -> Response:
        await mock.clear_stubs(session)
        return Response(status_code=204)

    @app.post("/api/stubs/batchDelete", tags=["stubs"], status_code=204, responses=_NOT_FOUND)
    async def batch_delete(ids: list[str], session: Session) -> Response:
        await mock.delete_stubs(session, ids)
        return Response(status_code=204)

    @app.post(
        "/api/stubs/search", tags=["stubs"], response_model=dict[str, Any], responses=_NOT_FOUND
    )
    async def search(query: models.SearchRequest, session: Session) -> Any:
        if query.id is not None:
            found = mock.find(session, query.id)
            if found is None:
                raise BadRequest(f"Stub with ID '{query.id}' not found", 404)
            return _JSON(dict(found.raw.get("output") or {}))
        return _JSON(mock.search(session, query.service, query.method, query.data, query.headers))

    @app.get("/api/stubs/used", tags=["stubs"], response_model=list[models.Stub])
    async def used_stubs(session: Session) -> Any:
        return _JSON([posted.raw for posted in mock.used(session)[0]])

    @app.get("/api/stubs/unused", tags=["stubs"], response_model=list[models.Stub])
    async def unused_stubs(session: Session) -> Any:
        return _JSON([posted.raw for posted in mock.used(session)[1]])

    @app.get(
        "/api/stubs/{stub_id}", tags=["stubs"], response_model=models.Stub, responses=_NOT_FOUND
    )
    async def find_stub(stub_id: str, session: Session) -> Any:
        found = mock.find(session, stub_id)
        if found is None:
            raise BadRequest(f"Stub with ID '{stub_id}' not found", 404)
        return _JSON(found.raw)

    @app.delete("/api/stubs/{stub_id}", tags=["stubs"], status_code=204, responses=_NOT_FOUND)
    async def delete_stub(stub_id: str, session: Session) -> Response:
        await mock.delete_stubs(session, [stub_id])
        return Response(status_code=204)

    # -- history and verify --------------------------------------------------------------

    @app.get("/api/history", tags=["history"], response_model=list[models.CallRecord])
    async def history(session: Session) -> Any:
        return _JSON(await mock.history(session))

    @app.delete("/api/history", tags=["history"], status_code=204)
    async def clear_history(session: Session) -> Response:
        await mock.clear_history(session)
        return Response(status_code=204)

    @app.post(
        "/api/verify",
        tags=["verify"],
        response_model=models.MessageOK,
        responses={400: {"model": models.VerifyError, "description": "Verification failed"}},
    )
    async def verify(check: models.VerifyRequest, session: Session) -> Any:
        result = await mock.verify(session, check.service, check.method, check.expectedCount)
        if not result.ok:
            body = {"message": result.message, "expected": result.expected, "actual": result.actual}
            return _JSON(body, status_code=400)
        return _JSON(_ok())

    # -- sessions ------------------------------------------------------------------------

    @app.get("/api/sessions", tags=["sessions"], response_model=models.Sessions)
    async def sessions() -> Any:
        return _JSON({"sessions": mock.session_ids()})

    @app.get(
        "/api/sessions/{session_id}",
        tags=["sessions"],
        response_model=models.SessionDocument,
        responses=_NOT_FOUND,
    )
    async def get_session(session_id: str) -> Any:
        document = await mock.session_document(session_id)
        if document is None:
            raise BadRequest(f"session {session_id!r} not found", 404)
        return _JSON(document)

    @app.put(
        "/api/sessions/{session_id}",
        tags=["sessions"],
        response_model=models.SessionDocument,
        responses=_ERRORS,
    )
    async def put_session(session_id: str, body: models.SessionTTL) -> Any:
        if session_id == GLOBAL_STORE_ID or not session_id.strip():
            raise BadRequest(f"the session id {session_id!r} is reserved")
        ttl = parse_ttl(body.ttl)
        await mock.touch(session_id)
        await mock.set_ttl(session_id, ttl)
        return _JSON(await mock.session_document(session_id))

    @app.delete(
        "/api/sessions/{session_id}",
        tags=["sessions"],
        response_model=models.SessionDocument,
        responses=_NOT_FOUND,
    )
    async def delete_session(session_id: str) -> Any:
        """Remove the session; answer it as it was (what ``GET`` would have said)."""
        document = await mock.session_document(session_id)
        if document is None or not await mock.delete_session(session_id):
            raise BadRequest(f"session {session_id!r} not found", 404)
        return _JSON(document)

    app.openapi = lambda: _document(app, token is not None)  # type: ignore[method-assign]
    return app


def _document(app: FastAPI, with_token: bool) -> dict[str, Any]:
    """The OpenAPI document, saying every answer the API gives: any request may be refused
    with GripMock's ``{"error": …}`` (a 400 for a bad header or body, never FastAPI's 422;
    a 409 when a replica removed the session meanwhile; a 401 without the token)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    from fastapi.openapi.utils import get_openapi

    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    error_schema = {"$ref": "#/components/schemas/ErrorMessage"}
    error = {"description": "Refused", "content": {"application/json": {"schema": error_schema}}}
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            own = answers.get("400", {}).get("content", {}).get("application/json", {})
            if own and own.get("schema") != error_schema:
                # e.g. /api/verify's count that differs: that body, or a refused request's
                own["schema"] = {"anyOf": [own["schema"], error_schema]}
            answers.setdefault("400", error)
            answers.setdefault("409", error)
            answers.setdefault("503", error)
            if with_token and not path.startswith("/api/health"):
                answers.setdefault("401", error)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.setdefault(
        "ErrorMessage",
        {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
    )
    app.openapi_schema = document
    return document
