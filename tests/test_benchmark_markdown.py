"""BENCHMARKS.md sections: each benchmark replaces its own and leaves the others alone."""

import json

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


def test_claims_merge_replaces_only_the_redone_methods(tmp_path):
    from benchmarks.claims import merged

    path = tmp_path / "claims.json"
    old = {
        "date": "d1",
        "machine": "x86_64, 2 threads",
        "command": "python benchmarks/claims.py",
        "seconds": 100.0,
        "learning_rates": {"npo": 0.01, "graddiff": 0.003},
        "rows": [{"method": "npo", "v": 1}, {"method": "graddiff", "v": 2}],
    }
    path.write_text(json.dumps(old))
    new = {
        "date": "d2",
        "machine": "x86_64, 2 threads",
        "command": "python benchmarks/claims.py --methods graddiff --merge",
        "seconds": 20.0,
        "learning_rates": {"graddiff": 0.0005},
        "rows": [{"method": "graddiff", "v": 3}],
    }
    out = merged(path, new, ["graddiff"], "rows")
    assert out["rows"] == [{"method": "npo", "v": 1}, {"method": "graddiff", "v": 3}]
    assert out["seconds"] == 120.0 and out["command"].endswith("--methods graddiff --merge")
    assert out["merged"] == ["graddiff redone on d2 (x86_64)"] and out["date"] == "d1"
    assert out["learning_rates"] == {"npo": 0.01, "graddiff": 0.0005}
