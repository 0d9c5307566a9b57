"""``file:`` includes stay inside the project: a path that leaves it is refused, through a
symbolic link too."""

from __future__ import annotations

from pathlib import Path

from e2e_support import Project

STUB = """
- service: helloworld.Greeter
  method: SayHello
  output: {data: {message: from outside}}
"""


def test_an_include_cannot_leave_the_project_even_through_a_symlink(
    project: Project, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stubs.yaml").write_text(STUB)
    (project.root / "scenarios" / "_linked").symlink_to(outside, target_is_directory=True)
    (project.root / "scenarios" / "_one.yaml").symlink_to(outside / "stubs.yaml")
    project.write(
        "scenarios/includes.yaml",
        """
        name: through a linked folder
        stubs:
          - file: _linked/stubs.yaml
        ---
        name: through a linked file
        stubs:
          - file: _one.yaml
        ---
        name: by going up
        stubs:
          - file: ../../outside/stubs.yaml
        """,
    )
    result = project.run("scenarios")
    assert result.code == 1
    assert set(result.outcomes.values()) == {"error"}, result.outcomes
    for name in ("through a linked folder", "through a linked file", "by going up"):
        assert "leaves the working directory" in result.problem(name), result.problem(name)
