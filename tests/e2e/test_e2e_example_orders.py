"""The worked example (examples/orders): a real orders service started by the runner, its
two dependencies mocked per scenario, run as a user would (``cd examples/orders &&
scenario-run``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from e2e_support import REPO, Project, check_report

EXAMPLE = REPO / "examples" / "orders"


def test_the_orders_example_passes_as_written(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "orders"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("reports", ".scenario-run"))
    example = Project.at(folder, project.validate)
    for _ in range(2):  # the same suite twice: each run starts and stops its own service
        result = example.run_subprocess(timeout=120)
        assert result.code == 0, result.output
        assert len(result.cases) == 5
        assert set(result.outcomes.values()) == {"passed"}, result.outcomes
    check_report((folder / "reports" / "junit.xml").read_bytes(), project.validate)
    log = (folder / "reports" / "service-orders.log").read_text()
    assert "orders: serving on 127.0.0.1:" in log
