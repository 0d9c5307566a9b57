"""Random ids for stubs, sessions and events.

``uuid.uuid4()`` reads the operating system's random source on every call, a system call
that costs several microseconds on some virtual machines, three times per scenario and
more. These ids only have to be unique, not secret, so they come from ``random`` (seeded
from the system source at start, and again in every forked child).
"""

from __future__ import annotations

import random

_getrandbits = random.getrandbits


def random_uuid() -> str:
    """A random (version 4) UUID in its usual text form: ``"9f1c…-…"``."""
    # The version (4) and variant (10xx) bits set as uuid.UUID(version=4) sets them.
    h = f"{_getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def random_hex(digits: int = 32) -> str:
    """``digits`` random hexadecimal digits."""
    return f"{_getrandbits(4 * digits):0{digits}x}"
