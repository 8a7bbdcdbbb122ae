"""cli/output.py: the formats behave like OpenStackClient's, and -c picks columns."""

from __future__ import annotations

import io

import pytest
import typer

from corral.cli.output import Format, Output, emit_list, emit_show, flat, multiline, select_columns

COLUMNS = ("uuid", "name", "generation", "parent")
ROWS = [
    ("5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11", "host 1", 0, None),
    ("c0ffee00-0000-4000-8000-000000000002", 'say "hi"', 3, "x"),
]


def render_list(fmt: Format) -> str:
    stream = io.StringIO()
    emit_list(fmt, COLUMNS, ROWS, stream)
    return stream.getvalue()


def test_json_list_is_a_list_of_objects_in_column_order() -> None:
    text = render_list(Format.json)
    assert text == (
        '[\n  {\n    "uuid": "5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11",\n    "name": "host 1",\n'
        '    "generation": 0,\n    "parent": null\n  },\n  {\n'
        '    "uuid": "c0ffee00-0000-4000-8000-000000000002",\n    "name": "say \\"hi\\"",\n'
        '    "generation": 3,\n    "parent": "x"\n  }\n]\n')


def test_yaml_list_keeps_column_order() -> None:
    assert render_list(Format.yaml) == (
        "- uuid: 5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11\n  name: host 1\n  generation: 0\n"
        "  parent: null\n- uuid: c0ffee00-0000-4000-8000-000000000002\n  name: say \"hi\"\n"
        "  generation: 3\n  parent: x\n")


def test_csv_has_a_quoted_header_and_leaves_numbers_unquoted() -> None:
    assert render_list(Format.csv) == (
        '"uuid","name","generation","parent"\n'
        '"5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11","host 1",0,""\n'
        '"c0ffee00-0000-4000-8000-000000000002","say ""hi""",3,"x"\n')


def test_value_is_space_separated_one_row_per_line_without_header() -> None:
    assert render_list(Format.value) == (
        "5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11 host 1 0 \n"
        'c0ffee00-0000-4000-8000-000000000002 say "hi" 3 x\n')


def test_table_has_headers_and_never_cuts_a_uuid_when_piped() -> None:
    text = render_list(Format.table)
    lines = text.splitlines()
    assert all(col in lines[1] for col in COLUMNS)
    assert any("5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11" in line and "host 1" in line
               for line in lines)
    assert "None" not in text and "│ -      │" in text  # None is '-' for people


def test_empty_listings() -> None:
    for fmt, expected in ((Format.json, "[]\n"), (Format.yaml, "[]\n"),
                          (Format.csv, '"a","b"\n'), (Format.value, "")):
        stream = io.StringIO()
        emit_list(fmt, ("a", "b"), [], stream)
        assert stream.getvalue() == expected, fmt


def test_show_formats() -> None:
    pairs = [("name", "h1"), ("generation", 2), ("traits", ["A", "B"]),
             ("inventories", {"VCPU": {"total": 4, "allocation_ratio": 2.0}})]
    out = {}
    for fmt in Format:
        stream = io.StringIO()
        emit_show(fmt, pairs, stream)
        out[fmt] = stream.getvalue()
    assert out[Format.json] == (
        '{\n  "name": "h1",\n  "generation": 2,\n  "traits": [\n    "A",\n    "B"\n  ],\n'
        '  "inventories": {\n    "VCPU": {\n      "total": 4,\n      "allocation_ratio": 2.0\n'
        '    }\n  }\n}\n')
    assert out[Format.yaml] == ("name: h1\ngeneration: 2\ntraits:\n- A\n- B\ninventories:\n"
                                "  VCPU:\n    total: 4\n    allocation_ratio: 2.0\n")
    assert out[Format.value] == "h1\n2\nA,B\nVCPU:total=4,VCPU:allocation_ratio=2.0\n"
    assert out[Format.csv] == ('"name","generation","traits","inventories"\n'
                               '"h1",2,"A,B","VCPU:total=4,VCPU:allocation_ratio=2.0"\n')
    assert "Field" in out[Format.table] and "Value" in out[Format.table]
    assert "VCPU: total=4, allocation_ratio=2.0" in out[Format.table]


def test_flat_and_multiline_renderings() -> None:
    assert flat({"VCPU": 2, "DISK_GB": 0}) == "VCPU=2,DISK_GB=0"
    assert flat(["a", "b"]) == "a,b"
    assert flat(None) == ""
    assert flat([True, False]) == "true,false"
    assert multiline([None, True]) == "-\nyes"
    assert multiline(["a", "b"]) == "a\nb"
    assert multiline({"VCPU": 2}) == "VCPU=2"


def test_columns_are_selected_in_the_order_given_without_repeats() -> None:
    assert select_columns(COLUMNS, None) == COLUMNS
    assert select_columns(COLUMNS, ["name", "uuid", "name"]) == ("name", "uuid")


def test_an_unknown_column_is_refused_naming_the_option_and_the_choices() -> None:
    with pytest.raises(typer.BadParameter) as caught:
        select_columns(COLUMNS, ["name", "nope"])
    assert "'nope'" in str(caught.value) and "uuid, name, generation, parent" in str(caught.value)
    assert caught.value.param_hint == "'-c' / '--column'"


def test_output_picks_columns_from_mappings() -> None:
    stream = io.StringIO()
    Output(Format.value, ["generation", "uuid"], COLUMNS, stream).list(
        [dict(zip(COLUMNS, row, strict=True)) for row in ROWS])
    assert stream.getvalue() == ("0 5e1f3c8a-0b7e-4a8e-9a55-2c1d6b0f3a11\n"
                                 "3 c0ffee00-0000-4000-8000-000000000002\n")
