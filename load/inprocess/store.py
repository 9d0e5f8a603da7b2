"""The bench's server settings as the service reads them, for seeding its store directly."""

from __future__ import annotations

from typing import Any

from core.settings import Settings


def settings_for(env: dict[str, str]) -> Settings:
    """The settings a server started with these `KHAIBAO_*` variables reads."""
    values: dict[str, Any] = {k.removeprefix("KHAIBAO_").lower(): v for k, v in env.items()}
    return Settings(**values)
