"""Validate a command's JSON document against its schema in docs/schemas/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def validate(name: str, doc: dict) -> None:
    """Raises jsonschema.ValidationError when ``doc`` is not what ``name`` documents
    (the schemas refer to each other by file name: the folder is the registry)."""
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    registry = referencing.Registry().with_resources(
        (p.name, referencing.Resource.from_contents(json.loads(p.read_text())))
        for p in SCHEMAS.glob("*.json"))
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator(schema, registry=registry,
                                    format_checker=jsonschema.FormatChecker()).validate(doc)
