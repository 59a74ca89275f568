"""--json output: one document, indented, each item of a top-level list on a
line of its own (written by json's C encoder): the same values as the plain
indented encoding, so nothing a reader parses changes."""

from __future__ import annotations

import json

import pytest

from integrity.cli._common import emit_json

DOCS = [
    pytest.param({"exit_code": 0, "results": [
        {"device": "vfd-\u00e9", "status": "OK", "differences": [], "note": None},
        {"device": "s7-1", "status": "DRIFT", "differences": [{"key": "blocks/FC/1",
                                                              "values": [1, 2.5, True]}]}],
        "summary": {"OK": 1, "DRIFT": 1}, "alerts": [], "delivery": None}, id="sweep-like"),
    pytest.param({"error": "bad \"quote\"\nline", "exit_code": 2}, id="error"),
    pytest.param({"nested": {"b": [1, {"c": "\u2603"}], "a": {}}, "list": [[1, 2], "x"]},
                 id="nested"),
    pytest.param({"x": [], "y": [[]], "z": ""}, id="empty"),
]


@pytest.mark.parametrize("doc", DOCS)
def test_one_document_with_the_same_values(capsys, doc):
    emit_json(doc)
    out = capsys.readouterr().out
    assert json.loads(out) == json.loads(json.dumps({"schema": 1, **doc}))
    assert out.endswith("}\n") and out.startswith("{\n")


def test_a_list_item_per_line_and_the_rest_indented(capsys):
    emit_json({"results": [{"device": "a", "status": "OK"}, {"device": "b", "status": "OK"}],
               "summary": {"OK": 2}})
    assert capsys.readouterr().out == (
        '{\n'
        '  "results": [\n'
        '    {"device": "a", "status": "OK"},\n'
        '    {"device": "b", "status": "OK"}\n'
        '  ],\n'
        '  "schema": 1,\n'
        '  "summary": {\n'
        '    "OK": 2\n'
        '  }\n'
        '}\n')


@pytest.mark.parametrize("doc", DOCS)
def test_a_generator_is_written_as_the_same_list(capsys, doc):
    emit_json(doc)
    as_lists = capsys.readouterr().out
    emit_json({k: (iter(v) if type(v) is list else v) for k, v in doc.items()})
    assert capsys.readouterr().out == as_lists


def test_generated_items_are_made_one_at_a_time_as_written(capsys):
    made, out = [], []

    def items():
        for i in range(3):
            # Each item is made only once the one before has been written out.
            out.append(capsys.readouterr().out)
            assert "".join(out).count('"device"') == i
            made.append(i)
            yield {"device": f"d{i}"}

    emit_json({"results": items()})
    out.append(capsys.readouterr().out)
    assert made == [0, 1, 2] and json.loads("".join(out))["results"][2] == {"device": "d2"}
