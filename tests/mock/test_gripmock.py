"""GripMock stub-file behaviours: load-time functions, documents, directives, NOT_FOUND."""

from __future__ import annotations

import pytest

from scenario_runner.mock.gripmock import (
    not_found_text,
    parse_documents,
    render_load_time,
    split_directive,
)
from scenario_runner.mock.matching import InputMatcher, glob_match, headers_match, input_matches


def test_load_time_functions_render_outside_output_only() -> None:
    text = (
        "- input:\n"
        '    equals: {id: {{ uuid2base64 "00000000-0000-0000-0000-000000000000" }}}\n'
        "  output:\n"
        '    data: {id: "{{ uuid2base64 \\"00000000-0000-0000-0000-000000000000\\" }}"}\n'
        "- input: {equals: {name: '{{.Request.name}}'}}\n"
    )
    rendered = render_load_time(text).splitlines()
    assert rendered[1] == "    equals: {id: AAAAAAAAAAAAAAAAAAAAAA==}"
    assert "uuid2base64" in rendered[3]  # under output: rendered per call instead
    assert "{{.Request.name}}" in rendered[4]  # reads the request: not a load-time action


def test_uuid2int64_gives_gripmock_halves() -> None:
    text = render_load_time('- {{ uuid2int64 "e351220b-4847-42f5-8abb-c052b87ff2d4" }}')
    assert text == '- {"high":-773977811204288029,"low":-3102276763665777782}'


def test_documents() -> None:
    assert parse_documents(' {"a": 1}\n', stream=False) == [{"a": 1}]
    assert parse_documents('{"a": 1}\n{"a": 2}', stream=True) == [{"a": 1}, {"a": 2}]
    assert parse_documents("[1, 2]", stream=True) == [1, 2]
    assert parse_documents("  ", stream=True) == []
    with pytest.raises(ValueError, match="exactly one"):
        parse_documents('{"a": 1}{"b": 2}', stream=False)
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_documents("{nope", stream=True)


def test_directives() -> None:
    assert split_directive({"a": 1, "_gripmock": {"delay": "5ms"}}) == ({"a": 1}, {"delay": "5ms"})
    assert split_directive({"a": 1}) == ({"a": 1}, None)


@pytest.mark.parametrize(
    ("pattern", "value", "ok"),
    [
        ("report_*.pdf", "report_2024.pdf", True),
        ("*.json", "dir/a.json", False),
        ("data[12].csv", "data2.csv", True),
        ("data[12].csv", "data3.csv", False),
        ("test_?", "test_x", True),
        ("[^a]b", "cb", True),
        ("a\\*", "a*", True),
        ("[", "[", False),
    ],
)
def test_glob_is_go_path_match(pattern: str, value: str, ok: bool) -> None:
    assert glob_match(pattern, value) is ok


def test_any_of_in_input_and_headers() -> None:
    matcher = InputMatcher.from_mapping(
        {
            "equals": {"env": "prod"},
            "anyOf": [{"equals": {"role": "admin"}}, {"glob": {"user": "root*"}}],
        }
    )
    assert input_matches(matcher, {"env": "prod", "role": "admin"})
    assert input_matches(matcher, {"env": "prod", "user": "rooty"})
    assert not input_matches(matcher, {"env": "prod", "role": "dev"})
    assert headers_match(matcher, {"env": "prod", "user": "root1"})
    assert not headers_match(matcher, {"env": "dev", "role": "admin"})


def test_not_found_text_is_gripmocks() -> None:
    text = not_found_text(
        "tasktracker.TaskService",
        "CompleteTask",
        {"x-mock-session": "s", "user-agent": "grpc"},
        [{"task_id": "task-42", "done": False, "count": 0}],
        None,
    )
    assert text == (
        "No matching stub found\n\nService: tasktracker.TaskService\nMethod: CompleteTask\n\n"
        'Request input:\n{\n\t"task_id": "task-42"\n}\n\nNo similar stubs found.'
    )
    closest = not_found_text(
        "s.S", "M", {"x-a": "1"}, [{"a": 1}, {"a": 2}], {"equals": {"a": 3}}, "id1"
    )
    assert 'Request headers:\n{\n\t"x-a": "1"\n}' in closest
    assert "Request input (stream):\n[0]" in closest
    assert closest.endswith('Closest match (stub id1):\n\nequals:\n{\n\t"a": 3\n}')
