"""The shared mock: the embedded mock server, its sessions, and what the admin API does.

Everything runs on one asyncio loop (the gRPC server's and the HTTP server's), so the stub
store and the session hub are used without locks, as in the embedded runner. Each change the
admin API makes to a scope (a session, or the global scope ``""``) is an event of that
scope's log in the session store, which is how a restarted server gets it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..durations import parse_duration
from ..mock.hub import APP_NAME, USER_ID
from ..mock.server import MockServer
from ..mock.store import StubSet
from ..protos import MethodInfo, ProtoRegistry
from ..sessions import Event, Session, SessionNotFoundError, SessionService
from . import records
from .replicas import Replica
from .sessions import GLOBAL, GLOBAL_STORE_ID, Activity, ServeHub
from .stub_input import PostedStub, StubInputError, prepare, read_body, rebuild

SETTLE_TIMEOUT = 5.0  # seconds a reader waits for the calls the mock is still recording
MIN_TICK, MAX_TICK = 0.05, 1.0  # seconds between sweeps
_HISTORY_KINDS = (records.MOCK_CALL, records.HISTORY_CLEARED)


class BadRequest(Exception):
    """The request cannot be done as asked (a 4xx with ``{"error": message}``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Scope:
    """What the admin API gave one session (or the global scope)."""

    stubs: dict[str, PostedStub] = field(default_factory=dict)  # by id, in posting order
    ttl: float | None = None  # its own TTL in seconds; None: the server's default
    ttl_text: str | None = None  # the last x-mock-session-ttl value read from a call


@dataclass(frozen=True)
class Verified:
    expected: int
    actual: int
    message: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def parse_ttl(value: Any) -> float | None:
    """A TTL as the API takes it: "30s", "250ms", a number of seconds, or null."""
    if value is None:
        return None
    try:
        return seconds(value)
    except ValueError as exc:
        raise BadRequest(f"ttl: {exc}") from exc


def seconds(value: Any) -> float:
    """A duration in seconds, to the microsecond ("700ms" is 0.7, not 0.7000000000000001)."""
    return round(parse_duration(value), 6)


class SharedMock:
    def __init__(
        self,
        registry: ProtoRegistry,
        service: SessionService,
        *,
        default_ttl: float,
        persistent: bool,
    ) -> None:
        self.registry = registry
        self.activity = Activity()
        self.hub = ServeHub(service, self.activity)
        self.mock = MockServer(registry, hub=self.hub)
        self.store = self.mock.store
        self.templates = self.mock.templates
        self.default_ttl = default_ttl
        self.persistent = persistent
        self.scopes: dict[str, Scope] = {GLOBAL: Scope()}
        self.ready = False
        # On a store several processes share: how this one keeps up with the others.
        shared = self.hub.shared
        self.replica = Replica(self, shared) if shared is not None else None

    # -- sessions ------------------------------------------------------------------------

    def session_ids(self) -> list[str]:
        return sorted(key for key in self.activity.last_seen if key != GLOBAL)

    def known(self, session_id: str) -> bool:
        return session_id != GLOBAL and session_id in self.activity.last_seen

    def scope(self, session_id: str) -> Scope:
        found = self.scopes.get(session_id)
        if found is None:
            found = self.scopes[session_id] = Scope()
        return found

    async def touch(self, session_id: str) -> None:
        """A request carried this session: it is alive now (created if it is new)."""
        if session_id == GLOBAL:
            return
        self.activity.seen(session_id)
        if self.hub.live(session_id) is None:
            await self.hub.open(session_id)

    def ttl_of(self, session_id: str) -> float | None:
        """The session's TTL in seconds, None when it never expires."""
        own = self.scope(session_id).ttl
        ttl = self.default_ttl if own is None else own
        return ttl or None

    async def set_ttl(self, session_id: str, ttl: float | None) -> None:
        scope = self.scope(session_id)
        if scope.ttl == ttl:
            return
        # The store first: a change it did not keep (a 503) is not made here either.
        await self.hub.record(session_id, records.SESSION_TTL, {"ttl": ttl}, author="serve")
        scope.ttl = ttl
        await self._changed(session_id)

    async def _changed(self, session_id: str) -> None:
        """A scope's log changed: the other replicas (if any) catch up before we answer."""
        if self.replica is not None:
            await self.replica.changed(session_id)

    async def _events(self, session_id: str, kinds: Sequence[str] | None = None) -> list[Event]:
        """The scope's log (from the store on a shared store: it has every replica's)."""
        if self.replica is not None:
            return await self.replica.events(session_id, kinds)
        return await self.hub.events(session_id, kinds)

    async def _settle(self, session_id: str) -> None:
        """Before the scope's log is read: the calls still being recorded are in it (on
        every replica)."""
        await self.hub.settled(session_id, SETTLE_TIMEOUT)
        if self.replica is not None:
            await self.replica.gather(session_id)

    async def session_document(self, session_id: str) -> dict[str, Any] | None:
        """``GET /api/sessions/{id}``: None for a session the server does not know."""
        if self.replica is not None:
            await self._settle(session_id)  # (it may have been created on another replica)
        if not self.known(session_id):
            return None
        if self.replica is None:
            await self._settle(session_id)
        events = await self._events(session_id)
        if not self.known(session_id):
            return None  # removed while the calls in flight were being recorded
        live = self.hub.live(session_id)
        return {
            "id": session_id,
            "state": dict(live.state) if live is not None else {},
            "ttl": self.ttl_of(session_id),
            "lastUpdateTime": self.activity.last_seen.get(session_id, 0.0),
            "stubs": [posted.raw for posted in self.scope(session_id).stubs.values()],
            "events": [records.event_json(event) for event in events],
        }

    async def delete_session(self, session_id: str) -> bool:
        if self.replica is not None:
            await self.replica.sync(session_id)  # it may have been created elsewhere
        if not self.known(session_id):
            return False
        await self.remove(session_id)
        return True

    async def remove(self, session_id: str) -> None:
        """Forget a session: its stubs, history and state, here and in the store."""
        self.activity.forget(session_id)
        self.scopes.pop(session_id, None)
        self.store.drop_session(session_id)
        with contextlib.suppress(SessionNotFoundError):
            await self.hub.close(session_id)
        await self._changed(session_id)

    def forget(self, session_id: str) -> None:
        """Forget a session here only (the store no longer has it)."""
        self.activity.forget(session_id)
        self.scopes.pop(session_id, None)
        self.store.drop_session(session_id)
        self.hub.forget(session_id)

    # -- stubs ---------------------------------------------------------------------------

    async def add_stubs(self, session_id: str, body: bytes) -> list[str]:
        try:
            items, document = read_body(body)
            posted = prepare(items, document, self.registry, self.templates)
        except StubInputError as exc:
            raise BadRequest(str(exc)) from exc
        unique = list({p.id: p for p in posted}.values())  # the same id twice: the last wins
        written: list[PostedStub] = []
        try:
            for item in unique:
                stub = item.stub
                data = records.stub_added_data(
                    item.raw, stub.method.full_name, stub.source, stub.priority, stub.times
                )
                await self.hub.record(session_id, records.STUB_ADDED, data, author="serve")
                written.append(item)
        finally:
            # The stubs served are the stubs the store keeps: when it went away midway (a
            # 503), only those written before.
            self._register(session_id, written)
        await self._changed(session_id)
        return [item.id for item in posted]

    def register(self, session_id: str, posted: Sequence[PostedStub]) -> None:
        """Serve these stubs in the scope (a stub of the same id is replaced)."""
        self._register(session_id, posted)

    def unregister(self, session_id: str, stub_ids: Sequence[str]) -> None:
        """Stop serving these stubs of the scope (ids it does not have are left alone)."""
        scope = self.scope(session_id)
        target = self._stub_set(session_id)
        for stub_id in stub_ids:
            if scope.stubs.pop(stub_id, None) is not None:
                target.remove(stub_id)

    def _register(self, session_id: str, posted: Sequence[PostedStub]) -> None:
        scope = self.scope(session_id)
        target = self._stub_set(session_id)
        for item in posted:
            if scope.stubs.pop(item.id, None) is not None:
                target.remove(item.id)
        self.store.add(None if session_id == GLOBAL else session_id, [p.stub for p in posted])
        for item in posted:
            scope.stubs[item.id] = item

    def _stub_set(self, session_id: str) -> StubSet:
        return self.store.global_stubs if session_id == GLOBAL else self.store.session(session_id)

    def visible(self, session_id: str) -> list[PostedStub]:
        """The stubs a scope sees: its own, then the global ones."""
        own = list(self.scope(session_id).stubs.values()) if session_id != GLOBAL else []
        return [*own, *self.scopes[GLOBAL].stubs.values()]

    def find(self, session_id: str, stub_id: str) -> PostedStub | None:
        own = self.scope(session_id).stubs.get(stub_id)
        return own if own is not None else self.scopes[GLOBAL].stubs.get(stub_id)

    async def delete_stubs(self, session_id: str, stub_ids: Sequence[str]) -> None:
        """Remove the scope's own stubs by id; ``BadRequest`` (404), and nothing removed,
        when one of them is not the scope's."""
        scope = self.scope(session_id)
        missing = [stub_id for stub_id in stub_ids if stub_id not in scope.stubs]
        if missing:
            shown = ", ".join(f"'{stub_id}'" for stub_id in missing)
            raise BadRequest(f"Stub with ID {shown} not found", 404)
        target = self._stub_set(session_id)
        for stub_id in dict.fromkeys(stub_ids):
            await self.hub.record(
                session_id, records.STUB_REMOVED, {"stub_id": stub_id}, author="serve"
            )
            del scope.stubs[stub_id]
            target.remove(stub_id)
        await self._changed(session_id)

    async def clear_stubs(self, session_id: str) -> None:
        scope = self.scope(session_id)
        target = self._stub_set(session_id)
        await self.hub.record(session_id, records.STUBS_CLEARED, {}, author="serve")
        for stub_id in scope.stubs:
            target.remove(stub_id)
        scope.stubs.clear()
        await self._changed(session_id)

    def used(self, session_id: str) -> tuple[list[PostedStub], list[PostedStub]]:
        """The scope's visible stubs that answered a call in it, and those that did not.

        For the global scope: the global stubs that answered a call in any scope."""
        if session_id == GLOBAL:
            uses: set[str] = set()
            for key in (GLOBAL, *self.activity.last_seen):
                uses.update(k for k, n in self.store.session(key).uses.items() if n)
        else:
            uses = {k for k, n in self.store.session(session_id).uses.items() if n}
        stubs = self.visible(session_id)
        return [p for p in stubs if p.id in uses], [p for p in stubs if p.id not in uses]

    def search(
        self, session_id: str, service: str, method_name: str, data: Any, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        """The output of the stub that would answer this request (its use is not counted)."""
        method = self._method(service, method_name)
        try:
            message = self.registry.to_json(self.registry.from_json(method.input_type, data))
        except ValueError as exc:
            raise BadRequest(f"data: not a valid {_type_name(method.input_type)}: {exc}") from exc
        request: Any = (
            [message] if method.client_streaming and not method.server_streaming else message
        )
        index = 0 if method.client_streaming and method.server_streaming else None
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        match = self.store.match(
            session_id, method.path, request, lowered, index=index, count=False
        )
        if match is None:
            text = f"no stub for {method.full_name} matches request {json.dumps(message)}"
            closest = self.store.closest(session_id, method.path, message)
            if closest is not None:
                text += f"; closest: {closest[0].describe()}"
            raise BadRequest(text, 404)
        found = self.find(session_id, match.stub.id)
        output = found.raw.get("output") if found is not None else match.stub.raw.get("output")
        return dict(output or {})

    def _method(self, service: str, name: str) -> MethodInfo:
        method = self.registry.find_method(service, name)
        if method is not None:
            return method
        full = self.registry.resolve_service(service)
        if full is None:
            known = ", ".join(sorted(self.registry.services)) or "(none)"
            raise BadRequest(f"unknown service {service!r} (services: {known})", 404)
        methods = ", ".join(self.registry.services[full])
        raise BadRequest(f"service {full} has no method {name!r} (methods: {methods})", 404)

    # -- history -------------------------------------------------------------------------

    async def history(self, session_id: str) -> list[dict[str, Any]]:
        await self._settle(session_id)
        events = await self._events(session_id, kinds=(records.MOCK_CALL, records.HISTORY_CLEARED))
        return [records.call_record(event) for event in records.history_events(events)]

    async def clear_history(self, session_id: str) -> None:
        await self._settle(session_id)
        await self.hub.record(session_id, records.HISTORY_CLEARED, {}, author="serve")
        await self._changed(session_id)

    async def verify(self, session_id: str, service: str, method: str, expected: int) -> Verified:
        found = self.registry.find_method(service, method)
        full = found.full_name if found is not None else f"{service}/{method}"
        await self._settle(session_id)
        events = await self._events(session_id, kinds=(records.MOCK_CALL, records.HISTORY_CLEARED))
        actual = records.count_calls(events, full)
        message = f"expected {service}/{method} to be called {expected} times, got {actual}"
        return Verified(expected, actual, message)

    # -- lifecycle -----------------------------------------------------------------------

    async def restore(self, file_stubs: Sequence[PostedStub]) -> int:
        """Load the global stub files, then every session the store kept (stubs, TTL, uses
        of stubs, history); returns how many sessions came back. A stored session's idle
        time starts again now: while the server was down, nobody could use it."""
        self._register(GLOBAL, file_stubs)
        if self.replica is not None:
            self.replica.start()
        service = self.hub.service
        restored = 0
        for stored in await service.list(APP_NAME, USER_ID):
            session = await service.get(APP_NAME, USER_ID, stored.id)
            key = GLOBAL if stored.id == GLOBAL_STORE_ID else stored.id
            self.load(key, session)
            if key != GLOBAL:
                restored += 1
        await self.hub.open_global()
        if self.replica is not None:
            self.replica.serving()
        return restored

    def load(self, key: str, session: Session) -> None:
        """Serve a stored session (read from the store) as the scope ``key``: its stubs,
        TTL and stub uses from its log. Its idle time starts now."""
        self.hub.adopt(key, session)
        replayed = records.replay(session.events)
        posted = []
        for stub_id, raw in replayed.stubs.items():
            try:
                posted.append(rebuild(raw, self.registry, self.templates))
            except StubInputError as exc:
                _warn(f"stored stub {stub_id} of {key or 'the global scope'} dropped: {exc}")
        self._register(key, posted)
        self.scope(key).ttl = replayed.ttl
        self.store.session(key).uses.update(replayed.uses)
        if key != GLOBAL:
            self.activity.seen(key)

    def tick(self) -> float:
        """Seconds to the next sweep: a quarter of the shortest TTL, within bounds."""
        ttls = [self.default_ttl] if self.default_ttl else []
        ttls += [s.ttl for s in self.scopes.values() if s.ttl]
        return min(MAX_TICK, max(MIN_TICK, min(ttls) / 4)) if ttls else MAX_TICK

    async def sweep(self, now: float | None = None) -> list[str]:
        """Apply the TTLs calls asked for, remove the sessions idle past their TTL (none
        with a call in flight), and write queued calls to a persistent store."""
        asked, self.activity.asked_ttl = self.activity.asked_ttl, {}
        for session_id, text in asked.items():
            scope = self.scope(session_id)
            if text == scope.ttl_text or session_id not in self.activity.last_seen:
                continue
            scope.ttl_text = text
            try:
                await self.set_ttl(session_id, seconds(text))
            except ValueError as exc:
                _warn(f"session {session_id!r}: x-mock-session-ttl ignored: {exc}")
        now = time.time() if now is None else now
        if self.replica is not None:
            return await self.replica.sweep(now)
        removed = []
        for session_id, seen in list(self.activity.last_seen.items()):
            ttl = self.ttl_of(session_id) if session_id != GLOBAL else None
            if ttl is None or now - seen <= ttl or self.hub.busy(session_id):
                continue
            await self.remove(session_id)
            removed.append(session_id)
            _say(f"session {session_id!r} expired (idle for more than its TTL of {ttl:g}s)")
        if self.persistent:
            await self.hub.flush_all()
        return removed

    async def run_sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.tick())
            try:
                await self.sweep()
            except Exception as exc:  # keep sweeping; a store problem may be passing
                _warn(f"session sweep failed: {type(exc).__name__}: {exc}")

    async def close(self) -> None:
        """Write what the mock recorded to the store (the server is stopping)."""
        if self.replica is not None:
            await self.replica.stop()
        await self.hub.flush_all()


def _type_name(message_class: Any) -> str:
    return str(message_class.DESCRIPTOR.full_name)


def _say(message: str) -> None:
    print(f"scenario-run serve: {message}", file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    print(f"scenario-run serve: warning: {message}", file=sys.stderr, flush=True)
