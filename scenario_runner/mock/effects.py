"""GripMock ``effects``: what a matched stub changes in the caller's session.

``{action: upsert, stub: {...}}`` adds the stub (or replaces the session's stub with its
``id``); ``{action: delete, id: ...}`` removes the stub with that id from the session, or
hides it there when it is a global stub. Global stubs themselves never change, so one
session's effects are invisible to every other session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..protos import ProtoRegistry, descriptor_of, normalize_stub_input
from .store import StubStore
from .stubs import Stub, build_stub

__all__ = ["apply_effects", "effect_problems"]


def effect_problems(effects: Any, registry: ProtoRegistry) -> list[tuple[tuple[Any, ...], str]]:
    """``(path inside effects, message)`` for every effect that cannot work (load time)."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    for position, effect in enumerate(effects or []):
        if not isinstance(effect, Mapping):
            problems.append(((position,), "an effect is an object with an `action`"))
            continue
        action = effect.get("action")
        if action == "delete":
            if not effect.get("id"):
                problems.append(((position, "id"), "a delete effect needs the `id` of a stub"))
        elif action == "upsert":
            stub = effect.get("stub")
            if not isinstance(stub, Mapping):
                problems.append(((position, "stub"), "an upsert effect needs a `stub`"))
                continue
            method = registry.find_method(str(stub.get("service")), str(stub.get("method")))
            if method is None:
                problems.append(
                    (
                        (position, "stub", "service"),
                        f"unknown method {stub.get('service')}/{stub.get('method')}",
                    )
                )
                continue
            try:
                _build(stub, registry)
            except ValueError as exc:
                problems.append(((position, "stub"), f"invalid stub: {exc}"))
        else:
            problems.append(
                ((position, "action"), f"unknown effect action {action!r} (upsert, delete)")
            )
    return problems


def _build(raw: Mapping[str, Any], registry: ProtoRegistry) -> Stub:
    method = registry.find_method(str(raw.get("service")), str(raw.get("method")))
    if method is None:
        raise ValueError(f"unknown method {raw.get('service')}/{raw.get('method')}")
    stub = dict(raw)
    descriptor = descriptor_of(method.input_type)
    if stub.get("input") is not None:
        stub["input"] = normalize_stub_input(stub["input"], descriptor)
    if isinstance(stub.get("inputs"), list):
        stub["inputs"] = [normalize_stub_input(m, descriptor) for m in stub["inputs"]]
    return build_stub(stub, method, registry, source="effect")


def apply_effects(
    store: StubStore, registry: ProtoRegistry, session_id: str, stub: Stub
) -> str | None:
    """Run the stub's effects in ``session_id``; a problem (as text) stops at the first."""
    for effect in stub.effects:
        action = effect.get("action")
        if action == "delete":
            store.remove(session_id, str(effect.get("id")))
        elif action == "upsert":
            try:
                new = _build(effect["stub"], registry)
            except (ValueError, KeyError, TypeError) as exc:
                return f"effect upsert: {exc}"
            store.remove(session_id, new.id)
            store.add(session_id, [new])
        else:
            return f"unknown effect action {action!r}"
    return None
