"""The command line: every config field is a flag, and a run writes a complete run folder."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from clreg_core.cli import build_parser, config_from_args
from clreg_core.config import METHODS, NEGATIVES, POSITIVES, PRECISIONS, STOP_RULES, RunConfig

ROOT = Path(__file__).resolve().parents[1]
SHORT = [
    "--task",
    "world:forget01",
    "--steps",
    "3",
    "--eval-every",
    "3",
    "--eval-items",
    "16",
    "--final-eval-items",
    "16",
]


def run_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """`python -m clreg_core run ARGS` in a subprocess, as a user would type it: with its
    output block-buffered into the pipe, as a shell's is (some CI images set PYTHONUNBUFFERED)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run(
        [sys.executable, "-m", "clreg_core", "run", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_help_lists_every_config_field():
    text = (
        build_parser().format_help()
        + build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    )
    for f in fields(RunConfig):
        assert "--" + f.name.replace("_", "-") in text, f.name


def test_help_lists_the_allowed_values_and_a_bad_one_is_refused():
    run_help = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for values in (METHODS, POSITIVES, NEGATIVES, PRECISIONS, STOP_RULES):
        assert "{" + ",".join(values) + "}" in run_help
    assert "pack:<id> (" in run_help and "chemical_elements" in run_help
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["run", "--out", "x", "--method", "gd"])
    assert refused.value.code == 2


def test_flags_override_the_model_defaults():
    args = build_parser().parse_args(
        [
            "run",
            "--out",
            "x",
            "--method",
            "simnpo",
            "--no-clreg",
            "--target-modules",
            "q_proj",
            "v_proj",
            "--steps",
            "7",
        ]
    )
    config = config_from_args(args)
    assert (config.method, config.clreg, config.steps) == ("simnpo", False, 7)
    assert config.target_modules == ("q_proj", "v_proj")


def test_run_writes_report_adapter_and_points_and_reruns(tmp_path):
    out = tmp_path / "run"
    done = run_cli("--out", str(out), *SHORT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # The process leaves without tearing the interpreter down (clreg_core/__main__.py); what
    # it printed to a pipe, block-buffered, must still arrive whole, up to the last line.
    assert "finished: wrote" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].lstrip().startswith("forget_same_answer")
    report = json.loads((out / "report.json").read_text())
    for side in ("before", "after"):
        for key in ("forget_accuracy", "retain_accuracy", "entanglement", "mia_auc"):
            assert key in report["metrics"][side], (side, key)
    assert report["history"]["steps"] and report["history"]["evaluations"]
    assert report["generations"][0]["before"] and "after" in report["generations"][0]
    assert report["timing"]["seconds_per_step"] > 0 and report["timing"]["total_seconds"] > 0
    assert report["provenance"]["created"] and report["provenance"]["versions"]["torch"]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    points = [json.loads(line) for line in (out / "points.jsonl").read_text().splitlines()]
    assert [p["step"] for p in points] == [0, 3]
    # the report's config reruns the same run
    args = build_parser().parse_args(["run", "--out", "y", "--config", str(out / "report.json")])
    assert config_from_args(args) == RunConfig.from_dict(report["config"])


def test_bad_flag_values_exit_with_a_message(tmp_path):
    done = run_cli("--out", str(tmp_path), "--learning-rate", "-1")
    assert done.returncode == 2 and "learning_rate" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("flag", ["--config", "--custom-text-file"])
def test_missing_input_files_exit_with_a_message(tmp_path, flag):
    missing = str(tmp_path / "nowhere.json")
    extra = ["--task", "custom"] if flag == "--custom-text-file" else []
    done = run_cli("--out", str(tmp_path), flag, missing, *extra)
    assert done.returncode == 2 and "nowhere.json" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_default_embedded_run_forgets_and_keeps():
    """The default run on the embedded model, end to end (the claim the benchmarks check over
    seeds; here one seed must show clear forgetting with the retain set kept)."""
    from clreg_core.config import default_config
    from clreg_core.engine.training import run_unlearning

    result = run_unlearning(default_config("embedded"))
    assert result.status == "finished"
    before, after = result.report["metrics"]["before"], result.report["metrics"]["after"]
    assert before["forget_accuracy"] > 0.9 and before["retain_accuracy"] > 0.9
    assert after["forget_accuracy"] < 0.5 * before["forget_accuracy"]
    assert after["retain_accuracy"] > 0.8 * before["retain_accuracy"]
    assert after["entanglement"] < before["entanglement"]
    assert "forget_quality" in after and "privleak" in after


@pytest.mark.slow
def test_ctrl_c_stops_after_the_step_and_still_writes_the_run_folder(tmp_path):
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "clreg_core", "run", "--steps", "500", "--out", str(out)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen = []
    for line in process.stdout:  # tqdm redraws with \r: wait until training has begun
        seen.append(line)
        if "training" in line:
            break
    time.sleep(2.0)
    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=120)
    assert process.returncode == 1, "".join(seen) + rest
    assert "stopping after this step" in rest and "cancelled: wrote" in rest
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "cancelled" and 0 < len(report["history"]["steps"]) < 500
    assert (out / "points.jsonl").read_text().count("\n") >= 1
