"""Fixtures of the end-to-end tests; the helpers live in ``e2e_support.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import Project


@pytest.fixture
def project(tmp_path: Path, validate_junit: Callable[[bytes], None]) -> Project:
    return Project(tmp_path / "work", validate_junit)


@pytest.fixture(scope="module")
def module_project(
    tmp_path_factory: pytest.TempPathFactory, validate_junit: Callable[[bytes], None]
) -> Project:
    """One project per test module: write a whole scenario set, run it once, check it often."""
    return Project(tmp_path_factory.mktemp("e2e") / "work", validate_junit)
