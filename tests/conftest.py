"""Shared fixtures.

``junit_validators`` / ``validate_junit``: the two JUnit XML schemas of SPEC §8
(``<repo>/../shared/xsd``), for any test that produces a report. ``junit_validators`` skips,
saying why, when that folder is absent (e.g. a checkout without the shared contract files);
``validate_junit`` then checks well-formedness only, so tests that run the CLI still run.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xmlschema
from pg_support import Cluster, running_cluster

JUNIT_XSD_DIR = Path(__file__).resolve().parents[2] / "shared" / "xsd"
JUNIT_XSD_FILES = ("jenkins-junit.xsd", "junit-10.xsd")


@pytest.fixture(scope="session")
def junit_validators() -> list[tuple[str, xmlschema.XMLSchema]]:
    """``[(file name, compiled schema), ...]`` for both JUnit XSDs; skips when absent."""
    missing = [name for name in JUNIT_XSD_FILES if not (JUNIT_XSD_DIR / name).is_file()]
    if missing:
        pytest.skip(f"JUnit XSDs not found in {JUNIT_XSD_DIR} (missing: {', '.join(missing)})")
    return [(name, xmlschema.XMLSchema(str(JUNIT_XSD_DIR / name))) for name in JUNIT_XSD_FILES]


@pytest.fixture(scope="session")
def validate_junit() -> Callable[[bytes], None]:
    """A function that asserts a JUnit XML document is valid against both schemas (or, when
    the schemas are absent, that it is well-formed XML)."""
    present = all((JUNIT_XSD_DIR / name).is_file() for name in JUNIT_XSD_FILES)
    schemas = (
        [(name, xmlschema.XMLSchema(str(JUNIT_XSD_DIR / name))) for name in JUNIT_XSD_FILES]
        if present
        else []
    )

    def validate(document: bytes) -> None:
        ET.fromstring(document)  # well-formed in any case
        for name, schema in schemas:
            try:
                schema.validate(io.BytesIO(document))
            except xmlschema.XMLSchemaValidationError as exc:
                pytest.fail(f"JUnit report invalid against {name}: {exc}")

    return validate


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the whole run (see ``pg_support``)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    """The URL of a fresh, empty database of that cluster."""
    return pg_cluster.new_database()
