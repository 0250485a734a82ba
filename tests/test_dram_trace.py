"""The trace reader's column-wise parse against its row-by-row reference (`_parse_rows`).

`read_trace` parses a clean trace column by column on its bytes and hands anything else to the
row-by-row parse, which reports the first bad row. The contract: what the column parse accepts,
the row parse accepts with the same values; the tests also require the column parse to take the
clean traces (else the contract holds trivially)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dla_explorer.core.errors import DlaError
from dla_explorer.sim.dram import trace


def _both(path: Path):
    """(the column parse or None, the row parse's result or its error message)"""
    data = path.read_bytes()
    fast = trace._parse_columns(data)
    try:
        slow = trace._parse_rows(path, data.decode("utf-8-sig"))
    except DlaError as exc:
        slow = str(exc)
    return fast, slow


def _same(a, b) -> bool:
    if isinstance(b, str):
        return False
    return (
        a[0].dtype == b[0].dtype == np.uint64
        and np.array_equal(a[0], b[0])
        and np.array_equal(a[1], b[1])
        and ((a[2] is None and b[2] is None) or np.array_equal(a[2], b[2]))
    )


addresses = st.integers(0, (1 << 63) - 1)
spaces = st.sampled_from(["", "", " ", "  ", "\t"])


@st.composite
def traces(draw):
    """A clean trace: header columns in any order and case, decimal or 0x-hex addresses (either
    case, leading zeros), R/W in either case, spaces around cells, blank rows, LF or CRLF, a BOM."""
    with_time = draw(st.booleans())
    columns = ["address", "op"] + (["time_ns"] if with_time else [])
    columns = draw(st.permutations(columns))
    header = ",".join(draw(spaces) + draw(st.sampled_from([c, c.upper(), c.title()])) for c in columns)
    n = draw(st.integers(1, 40))
    rows = []
    for _ in range(n):
        a = draw(addresses)
        form = draw(st.sampled_from(["dec", "hex", "HEX", "zeros"]))
        text = {
            "dec": str(a),
            "hex": hex(a),
            "HEX": "0X" + format(a, "X"),
            "zeros": format(a, "x").rjust(16, "0").join(["0x", ""]),
        }[form]
        cells = {
            "address": text,
            "op": draw(st.sampled_from("RWrw")),
            "time_ns": draw(
                st.one_of(
                    st.floats(0, 1e12, allow_nan=False).map(repr),
                    st.integers(0, 10**9).map(str),
                    st.floats(0, 1e6, allow_nan=False).map(lambda t: f"{t:.3e}"),
                )
            ),
        }
        rows.append(",".join(draw(spaces) + cells[c] + draw(spaces) for c in columns))
        if draw(st.integers(0, 9)) == 0:
            rows.append(draw(st.sampled_from(["", "  ", ",".join([" "] * len(columns))])))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    body = newline.join([header, *rows]) + draw(st.sampled_from(["", newline]))
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + body.encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=traces())
def test_column_parse_equals_row_parse_on_clean_traces(tmp_path, data):
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    fast, slow = _both(path)
    assert fast is not None, "a clean trace must take the column parse"
    assert _same(fast, slow)
    assert _same(trace.read_trace(path), slow)


# cells the column parse must refuse (so the row parse reports or accepts them) or read exactly
ODD_ADDRESSES = [
    "+5", "-1", "5.0", "1e3", "1_000", "0x1_0", "0x", "0xg", "x10", "1 2", "0x 10", "٣",
    "9223372036854775807", "9223372036854775808", "9999999999999999999", "18446744073709551616",
    "00000000000000000001", "0x7fffffffffffffff", "0x8000000000000000", "0x00000000000000001",
    "0XaBc", "", "  ",
]  # fmt: skip
ODD_OPS = ["R", "w", "RW", "read", "", "1", "Ŕ"]
ODD_TIMES = ["0", "1.5", " 2 ", "1e3", "1E-3", "-1", "inf", "nan", "1_0", "0x10", "1.5.5", "",
             "+3", ".5", "5.", "e5", "1" * 40]  # fmt: skip


@pytest.mark.parametrize(
    "row",
    [f"{a},R,1" for a in ODD_ADDRESSES]
    + [f"64,{o},1" for o in ODD_OPS]
    + [f"64,R,{t}" for t in ODD_TIMES]
    + ['"64",R,1', "64,R,1,", "64,R", "64,R,1,2", "64,R,1\r", "64\tR,1"],
)
def test_odd_cells_are_refused_or_read_exactly(tmp_path, row):
    path = tmp_path / "t.csv"
    path.write_bytes(f"address,op,time_ns\n0,R,0\n{row}\n".encode())
    fast, slow = _both(path)
    if fast is not None:
        assert _same(fast, slow), row
    # read_trace gives the row parse's values, or its one-line error naming the line
    try:
        got = trace.read_trace(path)
    except DlaError as exc:
        assert str(exc) == slow and "line 3" in str(exc)
    else:
        assert _same(got, slow), row


def test_hex_digits_and_place_values(tmp_path):
    # hand-computed: every hex digit in both cases, and the decimal place values up to 10**18
    path = tmp_path / "t.csv"
    path.write_text("address,op\n0x0123456789ABCDEF,R\n0xfedcba9876543210,W\n1000000000000000000,R\n")
    fast = trace._parse_columns(path.read_bytes())
    assert fast is None  # 0xfedc... is above 2**63: refused, and the row parse names it
    path.write_text("address,op\n0x0123456789ABCDEF,R\n0x7edcba9876543210,W\n1000000000000000000,r\n")
    address, is_write, arrival = trace._parse_columns(path.read_bytes())
    assert address.tolist() == [0x0123456789ABCDEF, 0x7EDCBA9876543210, 10**18]
    assert is_write.tolist() == [False, True, False] and arrival is None
