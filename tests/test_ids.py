"""Random ids: the usual uuid4 text form, and hex digits, without repeats."""

from __future__ import annotations

import re
import uuid

from scenario_runner.ids import random_hex, random_uuid


def test_random_uuid_is_a_version_4_uuid_in_text_form() -> None:
    text = random_uuid()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text
    )
    assert uuid.UUID(text).version == 4


def test_random_hex_has_the_digits_asked_for() -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", random_hex())
    assert re.fullmatch(r"[0-9a-f]{12}", random_hex(12))


def test_ids_do_not_repeat() -> None:
    assert len({random_uuid() for _ in range(10_000)}) == 10_000
    assert len({random_hex(12) for _ in range(10_000)}) == 10_000
