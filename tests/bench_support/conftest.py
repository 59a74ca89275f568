"""Fixtures for the benchmark-support tests: crane device images."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.base import IMAGES, load_image


@pytest.fixture
def crane_image():
    def load(name: str) -> dict[str, Any]:
        return load_image(IMAGES / "crane" / f"{name}.json")
    return load
