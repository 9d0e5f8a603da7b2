"""The README is what operators read: every setting the service accepts must be in it."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from notifications.config import DeliverySettings

README = Path(__file__).resolve().parents[2] / "README.md"


class TestReadme:
    def test_every_setting_is_documented(self) -> None:
        text = README.read_text(encoding="utf-8")
        names = [f"KHAIBAO_{name.upper()}" for name in Settings.model_fields]
        names += [f"KHAIBAO_NOTIFY_{name.upper()}" for name in DeliverySettings.model_fields]
        missing = [name for name in names if f"`{name}`" not in text]
        assert missing == []

    def test_the_first_lines_give_the_two_commands(self) -> None:
        head = README.read_text(encoding="utf-8").splitlines()[:6]
        assert any(line.startswith("make run") for line in head)
        assert any(line.startswith("make test") for line in head)
