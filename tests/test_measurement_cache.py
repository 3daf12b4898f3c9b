"""Frozen models' measurements kept on disk: a new process reads them back, and anything they
depend on (weights, items, code) measures anew."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import tiny_model

from clreg_core.engine import assessment as assessment_module
from clreg_core.engine import measurement_cache
from clreg_core.engine.assessment import Assessment
from clreg_core.engine.evaluation import Measurer

ROOT = Path(__file__).resolve().parents[1]


def new_process(monkeypatch):
    """What a new process starts with: empty in-memory caches."""
    monkeypatch.setattr(assessment_module, "_ORIGINAL_CACHE", {})
    monkeypatch.setattr(assessment_module, "_GOLD_CACHE", {})


@pytest.fixture
def disk_cache(tmp_path, monkeypatch):
    """The cache on, in a folder of this test's own, and the in-memory caches empty (as in a
    new process)."""
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))
    monkeypatch.setenv("CLREG_MEASUREMENT_CACHE", "1")
    new_process(monkeypatch)
    return tmp_path


def assessment_for(tokenizer, task, model=None):
    measurer = Measurer(model or tiny_model("llama"), tokenizer, "qa", 48)
    return Assessment(measurer, task, 2, 12, seed=0)


def test_the_original_snapshot_is_read_back_by_a_new_process(
    disk_cache, monkeypatch, tokenizer, small_task
):
    first = assessment_for(tokenizer, small_task)
    assert not first.original_is_kept("weights-a")  # a page gets no "read back" stage
    made = first.measure_original("weights-a")
    assert first.from_disk == []
    assert list((disk_cache / "measurements").glob("original-*.pkl"))
    assert first.original_is_kept("weights-a")  # in this process

    new_process(monkeypatch)
    again = assessment_for(tokenizer, small_task)
    assert again.original_is_kept("weights-a") and not again.original_is_kept("weights-b")
    read = again.measure_original("weights-a")
    assert again.from_disk == ["original"]
    assert read.metrics == made.metrics and read.answers == made.answers

    # other weights, or other items, are measured anew
    new_process(monkeypatch)
    other = assessment_for(tokenizer, small_task)
    other.measure_original("weights-b")
    fewer = small_task.__class__("fewer", small_task.forget[:20], small_task.retain, ())
    smaller = assessment_for(tokenizer, fewer)
    smaller.measure_original("weights-a")
    assert other.from_disk == [] and smaller.from_disk == []


def test_changed_code_or_a_broken_file_measures_again(
    disk_cache, monkeypatch, tokenizer, small_task
):
    assessment_for(tokenizer, small_task).measure_original("weights-a")
    new_process(monkeypatch)
    monkeypatch.setattr(measurement_cache, "code_version", lambda: "edited-metrics")
    edited = assessment_for(tokenizer, small_task)
    edited.measure_original("weights-a")
    assert edited.from_disk == []

    for path in (disk_cache / "measurements").glob("*.pkl"):
        path.write_bytes(b"half a file")
    new_process(monkeypatch)
    broken = assessment_for(tokenizer, small_task)
    snap = broken.measure_original("weights-a")
    assert broken.from_disk == [] and "forget_accuracy" in snap.metrics


def test_the_cache_can_be_switched_off(disk_cache, monkeypatch, tokenizer, small_task):
    monkeypatch.setenv("CLREG_MEASUREMENT_CACHE", "0")
    assessment_for(tokenizer, small_task).measure_original("weights-a")
    assert not (disk_cache / "measurements").exists()


def test_gold_is_kept_on_disk_only_for_pinned_weights(
    disk_cache, monkeypatch, tokenizer, small_task
):
    loads = []

    def load_gold():
        loads.append(1)
        return Measurer(tiny_model("llama"), tokenizer, "qa", 48)

    def gold_run(on_disk):
        new_process(monkeypatch)
        assessment = assessment_for(tokenizer, small_task)
        before = assessment.measure(adapter=False)
        gold, answers = assessment.against_gold("gold", load_gold, {"b": before}, on_disk)
        return assessment, gold, answers

    _, gold, answers = gold_run(on_disk=True)
    again, gold_again, answers_again = gold_run(on_disk=True)
    assert len(loads) == 1 and again.from_disk == ["gold"]
    assert gold_again == gold and answers_again == answers
    gold_run(on_disk=False)  # a hub name: measured in every process
    gold_run(on_disk=False)
    assert len(loads) == 3


def test_a_folder_fingerprint_follows_its_files(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    first = measurement_cache.folder_fingerprint(str(folder))
    assert first == measurement_cache.folder_fingerprint(str(folder))
    (folder / "model.safetensors").write_bytes(b"retrained")
    assert measurement_cache.folder_fingerprint(str(folder)) != first
    assert measurement_cache.folder_fingerprint("owner/some-hub-model") is None


def test_a_second_cli_process_reads_the_original_and_gold_measurements(tmp_path):
    """End to end, as a user runs it twice: the embedded model on forget10 has a gold twin."""
    env = {**os.environ, "CLREG_CACHE": str(tmp_path / "cache"), "CLREG_MEASUREMENT_CACHE": "1"}
    args = ["--task", "world:forget10", "--steps", "2", "--eval-every", "2"]
    args += ["--eval-items", "8", "--final-eval-items", "12"]
    reports = []
    for run in ("first", "second"):
        out = tmp_path / run
        done = subprocess.run(
            [sys.executable, "-m", "clreg_core", "run", *args, "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        reports.append(json.loads((out / "report.json").read_text()))
    first, second = reports
    assert first["timing"]["from_disk_cache"] == []
    assert second["timing"]["from_disk_cache"] == ["original", "gold"]
    for side in ("before", "gold"):
        assert second["metrics"][side] == first["metrics"][side]
    after = [report["metrics"]["after"]["forget_quality"] for report in reports]
    assert after[0] == after[1]
