"""Property tests: whatever a file holds, loading it raises nothing but our own errors."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scenario_runner.errors import ScenarioError
from scenario_runner.protos import ProtoRegistry, compile_protos
from scenario_runner.scenario.loader import Loader
from scenario_runner.scenario.yamlsource import load_documents

PROTOS = Path(__file__).resolve().parents[2] / "protos"
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Words a scenario file is made of, so that random documents get past the first checks.
KEYS = [
    "name", "steps", "stubs", "verify", "vars", "session", "id", "timeout", "call", "request",
    "requests", "expect", "response", "responses", "status", "match", "save", "target",
    "metadata", "retry", "attempts", "interval", "service", "method", "input", "inputs",
    "output", "data", "stream", "error", "code", "details", "headers", "equals", "contains",
    "matches", "glob", "anyOf", "ignoreArrayOrder", "options", "times", "with", "unmatched",
    "file", "delay", "template", "dataTemplate", "effects", "priority", "message", "isbn",
    "customer_id", "lines", "quantity", "created_at", "$regex", "$gt", "$len", "@type",
]  # fmt: skip
WORDS = [
    "helloworld.Greeter", "SayHello", "helloworld.Greeter/SayHello", "bookstore.v1.Catalog",
    "GetBook", "bookstore.v1.Orders/PlaceOrder", "OK", "NOT_FOUND", "exact", "subset", "1s",
    "([A-", "^a.*$", "[a-", "*", "{{ request.name }}", "{{.Request.name}}", "{{ x", "{% if %}",
    "{{ $x }}", "{{ range .Requests }}{{ end }}", "mock", "localhost:1", "_stubs/x.yaml",
    "ORDER_STATUS_PENDING", "2024-05-01T10:00:00Z", "yesterday", "response.message",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)


def _values(children: Any) -> Any:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(KEYS) | st.text(max_size=6) | st.integers(-3, 3) | st.booleans(),
            children,
            max_size=5,
        ),
    )


documents = st.recursive(scalars, _values, max_leaves=40)


@pytest.fixture(scope="module")
def registry() -> ProtoRegistry:
    return compile_protos([PROTOS])


@SETTINGS
@given(st.text(alphabet=string.printable + "\t\u00e9\ufeff&*!|>-:[]{}#%@`'\"", max_size=300))
def test_any_text_is_a_document_or_our_error(text: str) -> None:
    try:
        load_documents(text, "f.yaml")
    except ScenarioError as exc:  # and it says where
        assert exc.location is not None and exc.location.file == "f.yaml"


@SETTINGS
@given(st.lists(documents, min_size=1, max_size=3))
def test_any_document_loads_or_is_reported(
    tmp_path_factory: pytest.TempPathFactory, registry: ProtoRegistry, values: list[Any]
) -> None:
    root = tmp_path_factory.mktemp("docs")
    path = root / "s.yaml"
    path.write_text(yaml.safe_dump_all(values, allow_unicode=True), encoding="utf-8")
    loader = Loader(registry, root=root, parse_outputs=True, option_vars={"x"}, targets={"t"})
    scenarios, broken = loader.load_file(path, 0)
    assert len(scenarios) + len(broken) >= 1  # every file is a scenario or an errored case
    for item in broken:
        assert item.errors and all(isinstance(e, ScenarioError) for e in item.errors)


@SETTINGS
@given(documents)
def test_any_stub_file_loads_or_is_our_error(
    tmp_path_factory: pytest.TempPathFactory, registry: ProtoRegistry, value: Any
) -> None:
    root = tmp_path_factory.mktemp("stubs")
    path = root / "stub.yaml"
    path.write_text(yaml.safe_dump(value, allow_unicode=True), encoding="utf-8")
    loader = Loader(registry, root=root, parse_outputs=True)
    try:
        loader.load_stub_file(path)
    except ScenarioError as exc:
        assert exc.location is not None and exc.location.file == "stub.yaml"
    skipped: list[Any] = []  # as --stubs loads: bad stubs left out, said here
    try:
        loader.load_stub_file(path, skipped)
    except ScenarioError as exc:
        assert exc.location is not None
    assert all(isinstance(e, ScenarioError) and e.location is not None for e in skipped)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {"service": st.sampled_from(["helloworld.Greeter", "Greeter", "bookstore.v1.Orders"])},
        optional={
            "method": st.sampled_from(["SayHello", "PlaceOrder", "UploadBasket", "Support"]),
            "input": documents,
            "inputs": st.lists(documents, max_size=3),
            "headers": documents,
            "output": documents,
            "options": documents,
            "priority": scalars,
            "effects": documents,
        },
    )
)
def test_any_stub_shaped_object_is_checked_without_surprises(
    tmp_path_factory: pytest.TempPathFactory, registry: ProtoRegistry, stub: dict[str, Any]
) -> None:
    root = tmp_path_factory.mktemp("stub")
    text = yaml.safe_dump({"name": "s", "stubs": [stub]}, allow_unicode=True)
    (root / "s.yaml").write_text(text, encoding="utf-8")
    _, broken = Loader(registry, root=root, parse_outputs=True).load_file(root / "s.yaml", 0)
    for item in broken:
        assert all(isinstance(e, ScenarioError) for e in item.errors)
