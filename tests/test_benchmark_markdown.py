"""BENCHMARKS.md sections: each benchmark replaces its own and leaves the others alone."""

from benchmarks.markdown import mean_spread, table, write_section


def test_sections_are_replaced_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    write_section("speed", "first speed", path)
    write_section("claims", "claims body", path)
    write_section("speed", "second speed", path)
    text = path.read_text()
    assert "first speed" not in text and "second speed" in text and "claims body" in text
    assert text.index("second speed") < text.index("claims body")  # order kept


def test_table_and_spread():
    assert table(["a", "b"], [[1, 2]]).splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |"]
    assert mean_spread([1.0, 3.0], 1) == "2.0 ± 1.4"
    assert mean_spread([0.5]) == "0.500"
    assert mean_spread([]) == "n/a"
