"""What the sign-in tests share."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.conftest import room_in_window

# A test's tries all fall in one window when it starts with at least this long to go: the
# slowest of these tests (a few argon2 hashes) takes a few seconds, ten on a loaded machine.
_ROOM_SECONDS = 60


@pytest.fixture
async def fresh_sign_in_window() -> None:
    """Start in a window of wrong-password counts with room left. The limiter counts in fixed
    windows (`KHAIBAO_STAFF_SIGN_IN_WINDOW_MINUTES`, whole multiples since the epoch); one
    that ends mid-test forgets the tries counted before it, and a lock the test expects does
    not come (seen once: a run that crossed 18:15:00). Waits at most `_ROOM_SECONDS`, at most
    once per window."""
    window = 60 * int(Settings.model_fields["staff_sign_in_window_minutes"].default)
    await room_in_window(window, _ROOM_SECONDS)
