"""The runner's client of a running ``scenario-run serve``: the mock, over its admin API.

The same ``MockBackend`` interface as the embedded mock, so the runner does not know which
it talks to. A scenario's session lives on the server (its stubs and the calls the mock
answered, looked up by the ``X-Mock-Session`` header); the runner's own events (client
calls, saved values, verifications) are kept here and merged with the server's calls, by
time, when the log is read. With ``--sessions-db`` the merged log and the state are written
to the local file before the session is deleted on the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import httpx

from ..errors import HarnessError, StartupError
from ..mock.hub import APP_NAME, USER_ID, SessionHub
from ..mock.stubs import Stub
from ..sessions import Event, SessionService
from ..templating import Templates, template_strings

SESSION_HEADER = "X-Mock-Session"
TOKEN_ENV = "SCENARIO_RUN_ADMIN_TOKEN"  # the serve admin API's token, when none is given
TTL_HEADER = "X-Mock-Session-TTL"
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


class RemoteMock:
    """A ``serve`` process at ``grpc_address`` (calls) and ``admin_url`` (its HTTP API)."""

    def __init__(
        self,
        grpc_address: str,
        admin_url: str,
        *,
        store: SessionService | None = None,
        templates: Templates | None = None,
        token: str | None = None,
        global_stubs: Sequence[Stub] = (),
    ) -> None:
        self._address = grpc_address
        self.admin_url = admin_url.rstrip("/")
        self._store = store
        self.hub = SessionHub(store)  # the runner's own events
        self.templates = templates or Templates()
        self._global_stubs = list(global_stubs)  # a run's --stubs, copied into each session
        token = token or os.environ.get(TOKEN_ENV) or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Few connections: httpx looks at every pooled connection for every request, which
        # costs more than the requests that wait for one (measured with 50 scenarios at once).
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        self._http = httpx.AsyncClient(
            base_url=self.admin_url, timeout=_TIMEOUT, headers=headers, limits=limits
        )
        self._ttl: dict[str, float | None] = {}

    @property
    def address(self) -> str:
        return self._address

    @property
    def local_address(self) -> str | None:
        return None  # another process: its calls go to ``address``

    async def start(self) -> None:
        """Check that the server answers; ``StartupError`` saying so when it does not."""
        try:
            response = await self._http.get("/api/health/readiness")
        except httpx.HTTPError as exc:
            raise StartupError(
                f"the remote mock's admin API at {self.admin_url} does not answer: {_why(exc)} "
                "(is `scenario-run serve` running there?)"
            ) from exc
        if response.status_code >= 400:
            raise StartupError(
                f"the remote mock at {self.admin_url} is not ready: HTTP {response.status_code} "
                f"{response.text[:200]}"
            )

    # -- MockBackend ---------------------------------------------------------------------

    async def open_session(
        self, session_id: str, state: dict[str, Any], ttl: float | None = None
    ) -> None:
        await self.hub.open(session_id, state=state)
        self._ttl[session_id] = ttl
        if ttl is not None:  # otherwise the first stub or call makes it, with the server's TTL
            await self._request("PUT", f"/api/sessions/{session_id}", session_id, json={"ttl": ttl})
        if self._global_stubs:
            # The run's --stubs, a copy in each session (the server names each copy).
            body = [self._stub_body(stub, with_id=False) for stub in self._global_stubs]
            await self._request("POST", "/api/stubs", session_id, content=_dumps(body))

    async def add_stubs(self, session_id: str, stubs: Sequence[Stub]) -> None:
        if stubs:
            body = [self._stub_body(stub) for stub in stubs]
            await self._request("POST", "/api/stubs", session_id, content=_dumps(body))

    def _stub_body(self, stub: Stub, *, with_id: bool = True) -> dict[str, Any]:
        """The stub as posted: its GripMock object, its source, and the names its output
        templates use (the server renders them with the call's request and headers)."""
        body = dict(stub.raw)
        body.update(service=stub.method.service, method=stub.method.name, source=stub.source)
        if with_id:
            body["id"] = stub.id
        else:
            body.pop("id", None)
        used: set[str] = set()
        for text in template_strings(stub.raw.get("output")):
            used |= self.templates.undeclared_names(text)
        context = {name: stub.context[name] for name in sorted(used) if name in stub.context}
        if context:
            body["context"] = context
        return body

    async def record(
        self,
        session_id: str,
        kind: str,
        data: dict[str, Any],
        state_delta: dict[str, Any] | None = None,
    ) -> None:
        await self.hub.record(session_id, kind, data, state_delta=state_delta)

    async def calls(self, session_id: str) -> list[dict[str, Any]]:
        return [event.data for event in await self._mock_calls(session_id)]

    async def problems(self, session_id: str) -> list[str]:
        # A stub the server cannot render answers INTERNAL with the reason as its message,
        # which the step sees; asking the server after every step would cost a round trip.
        return []

    async def finish(self, session_id: str, *, keep: bool = False) -> list[Event]:
        """One request: the server deletes the session and answers it as it was."""
        self._ttl.pop(session_id, None)
        try:
            response = await self._request(
                "DELETE", f"/api/sessions/{session_id}", session_id, missing_ok=True
            )
            remote = [] if response.status_code == 404 else _calls_of(response.json())
            events = _merged(await self.hub.events(session_id), remote)
            if keep and self._store is not None:
                await self._keep(session_id, events)
        finally:
            await self.hub.close(session_id)
        return events

    async def close_session(self, session_id: str) -> None:
        self._ttl.pop(session_id, None)
        await self.hub.close(session_id)
        await self._request("DELETE", f"/api/sessions/{session_id}", session_id, missing_ok=True)

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._store is not None:
            self._store.close()

    # -- helpers -------------------------------------------------------------------------

    async def _keep(self, session_id: str, events: Sequence[Event]) -> None:
        """Write the merged log to the local store, in order, in place of the local part."""
        assert self._store is not None
        live = self.hub.live(session_id)
        state = dict(live.state.items()) if live is not None else {}
        await self.hub.close(session_id, keep=False)  # forget the local-only record
        kept = await self._store.create(APP_NAME, USER_ID, session_id, state)
        for event in events:
            await self._store.append_event(
                kept,
                Event(
                    event.kind,
                    event.data,
                    event.state_delta,
                    event.author,
                    event.id,
                    0,
                    event.timestamp,
                ),
            )

    async def _mock_calls(self, session_id: str) -> list[Event]:
        response = await self._request(
            "GET", f"/api/sessions/{session_id}", session_id, missing_ok=True
        )
        return [] if response.status_code == 404 else _calls_of(response.json())

    async def _request(
        self,
        method: str,
        path: str,
        session_id: str,
        *,
        missing_ok: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = {SESSION_HEADER: session_id, "Content-Type": "application/json"}
        ttl = self._ttl.get(session_id)
        if ttl is not None:
            headers[TTL_HEADER] = f"{ttl:g}s"
        try:
            response = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise HarnessError(
                f"the remote mock at {self.admin_url} does not answer ({method} {path}): "
                f"{_why(exc)}"
            ) from exc
        if response.status_code == 404 and missing_ok:
            return response
        if response.status_code >= 400:
            raise HarnessError(
                f"the remote mock refused {method} {path}: HTTP {response.status_code}: "
                f"{_error_text(response)}"
            )
        return response


def _merged(local: Sequence[Event], remote: Sequence[Event]) -> list[Event]:
    """One log from the runner's events and the server's calls, by time (a call the mock
    answered is logged before the client call that made it, as in embedded mode).

    A mock call is placed at the time it started: the mock records a call once its answer
    is sent, and a loaded server may record a failed call only after the client has seen
    its status and logged it, but it always started before that."""
    ordered = sorted([*local, *remote], key=_when)
    return [
        Event(e.kind, e.data, e.state_delta, e.author, e.id, number, e.timestamp)
        for number, e in enumerate(ordered, start=1)
    ]


def _when(event: Event) -> tuple[float, bool]:
    if event.author != "mock":
        return (event.timestamp, True)
    elapsed = event.data.get("elapsed")
    started = event.timestamp - (elapsed if isinstance(elapsed, (int, float)) else 0.0)
    return (started, False)


def _calls_of(document: dict[str, Any]) -> list[Event]:
    """The ``mock_call`` events of a session document."""
    return [_event(raw) for raw in document.get("events") or () if raw.get("kind") == "mock_call"]


def _event(raw: dict[str, Any]) -> Event:
    return Event(
        kind=str(raw.get("kind", "")),
        data=dict(raw.get("data") or {}),
        state_delta=dict(raw.get("stateDelta") or raw.get("state_delta") or {}),
        author=str(raw.get("author") or "mock"),
        id=str(raw.get("id") or ""),
        sequence=int(raw.get("sequence") or 0),
        timestamp=float(raw.get("timestamp") or 0.0),
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body.get("detail") or body)
    return str(body)[:500]


def _why(exc: httpx.HTTPError) -> str:
    return str(exc) or type(exc).__name__
