"""benchmarks/scale.py runs where no GPU is (on a tiny Llama shape), so the GPU machine's one
call of benchmarks/gpu.sh does not end on an error this machine could have caught."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_scale_benchmark_measures_each_shape_with_and_without_checkpointing(tmp_path):
    out = tmp_path / "scale.json"
    cmd = [sys.executable, "benchmarks/scale.py", "--shape", "tiny", "--shapes", "2x16", "4x8"]
    cmd += ["--device", "cpu", "--repeats", "1", "--peak-size", "256", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert [(r["rows"], r["tokens"], r["activation_checkpointing"]) for r in rows] == [
        (2, 16, False),
        (4, 8, False),
        (2, 16, True),
        (4, 8, True),
    ]
    for row in rows:
        assert row["ms_per_step"] > 0 and row["peak_memory_mb"] > 0
        seconds = row["ms_per_step"] / 1000
        assert row["tokens_per_second"] * seconds == pytest.approx(32, rel=0.01)
        assert row["step_tflop"] >= 0 and "fraction_of_peak" in row
    assert result["parameters"] > 0 and result["matmul_peak_tflops"] >= 0
