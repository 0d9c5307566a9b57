"""The sessions a run keeps (``--sessions-db``), written to SQLite in batches.

While its scenario runs, a session lives in memory: everything the scenario reads is its
live session, so nothing on the run's path waits for the database. When the session closes
it is queued, whole (its state and every event); the queue is written at most
``FLUSH_SECONDS`` later, with every other session closed meanwhile, in one transaction on
the store's own thread, while the run goes on. Closing the keeper writes what is left and
waits for every write.

A session id the database held when the run started (a fixed ``session.id`` of an earlier
run kept in the same file), or one this process kept already, is refused when the session is
opened, as when every event was written at once. Two processes of one run that open the
same id at the same time both run; the second to write finds the id taken and says so on
stderr (its session is not kept), as it does of a session with a value JSON cannot hold.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from .model import AlreadyExistsError, Session, session_key_text
from .sqlite import KeptSession, SqliteSessionService

FLUSH_SECONDS = 0.2  # a closed session waits at most this long before it is written
FLUSH_SESSIONS = 500  # or until this many are waiting


# How a session started: the state it was created with (a copy), and when.
Opened = tuple[dict[str, Any], float]


class SessionKeeper:
    """Writes closed sessions to ``store`` in batches (see the module's docstring)."""

    def __init__(self, store: SqliteSessionService) -> None:
        self.store = store
        self._queued: list[KeptSession] = []
        self._timer: asyncio.TimerHandle | None = None
        self._writes: list[asyncio.Future[list[str]]] = []
        self._kept: set[tuple[str, str, str]] = set()  # written or queued by this keeper
        self._stored: set[tuple[str, str, str]] | None = None

    async def check_new(self, app_name: str, user_id: str, session_id: str) -> None:
        """``AlreadyExistsError`` if the session was kept already (here or in the file)."""
        key = (app_name, user_id, session_id)
        if self._stored is None:
            # The keys in the file when the run started, read once: no query per session.
            self._stored = await self.store.keys()
        if key in self._kept or key in self._stored:
            raise AlreadyExistsError(f"session {session_key_text(*key)} already exists")

    def keep(self, session: Session, opened: Opened) -> None:
        """Queue a closed session (its events are final) to be written."""
        initial, created = opened
        state = dict(initial)
        for event in session.events:
            if event.state_delta:
                state.update(event.state_delta)
        self._kept.add((session.app_name, session.user_id, session.id))
        self._queued.append(
            KeptSession(
                session.app_name,
                session.user_id,
                session.id,
                state,
                created,
                session.last_update_time or created,
                list(session.events),
            )
        )
        if len(self._queued) >= FLUSH_SESSIONS:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Hand what is queued to the store's thread (not waited for)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queued:
            return
        batch, self._queued = self._queued, []
        self._writes = [w for w in self._writes if not w.done()] + [
            asyncio.wrap_future(self.store.save_batch(batch))
        ]

    async def aclose(self) -> None:
        """Write what is left; wait for every write."""
        self.flush()
        for refused in await asyncio.gather(*self._writes):
            for why in refused:
                print(f"scenario-run: --sessions-db: not kept: {why}", file=sys.stderr)
        self._writes.clear()
