"""The command line: every config field is a flag, and a run writes a complete run folder, only
where it may (a new or empty folder, or --overwrite; never / or home), from inputs read with a
byte cap and only if they are regular files."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from clreg_core.cli import build_parser, check_out, config_from_args, main
from clreg_core.config import METHODS, NEGATIVES, POSITIVES, PRECISIONS, STOP_RULES, RunConfig
from clreg_core.errors import UserInputError

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


def run_cli(*args: str, timeout: int = 120, preexec_fn=None) -> subprocess.CompletedProcess:
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
        preexec_fn=preexec_fn,
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


# --- a run writes only where it may, and reads only what it can hold (issue 30) ---
TINY = [
    "--task",
    "world:forget01",
    "--steps",
    "2",
    "--eval-every",
    "2",
    "--eval-items",
    "16",
    "--final-eval-items",
    "8",
    "--stop-at",
    "steps",
]


def refused_by_main(capsys, *args: str) -> str:
    """`main` refuses the run before any work (exit 2) and says why in one line: the message.
    TINY keeps a regression that does train cheap."""
    assert main(["run", *args, *TINY]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def limited_run(*args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """`run_cli` with a 2 GiB address-space limit and a timeout, for inputs that once read
    without end: a regression fails the test instead of hanging or filling the machine."""
    import resource

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    return run_cli(*args, timeout=timeout, preexec_fn=limit_memory)


@pytest.mark.parametrize("out", ["/", "/tmp/..", "//"])
def test_out_never_the_filesystem_root(out):
    for overwrite in (False, True):
        with pytest.raises(UserInputError, match=r"is the filesystem root /; a run never writes"):
            check_out(out, overwrite=overwrite)


def test_out_never_the_home_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for out in (str(home), "~", "~/", str(home / "runs" / "..")):
        for overwrite in (False, True):
            with pytest.raises(
                UserInputError, match=f"is your home folder {re.escape(str(home))}; a run never"
            ):
                check_out(out, overwrite=overwrite)
    assert check_out("~/runs/a") == home / "runs" / "a"  # a folder inside it is fine
    assert list(home.iterdir()) == []


def test_out_new_or_empty_folder_is_taken_resolved(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "empty")
    assert check_out(str(tmp_path / "empty")) == tmp_path / "empty"
    assert check_out(str(tmp_path / "link")) == tmp_path / "empty"
    assert check_out(str(tmp_path / "new" / "run")) == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # checking writes nothing


def test_a_folder_that_holds_files_is_refused_and_left_untouched(tmp_path, capsys):
    out = tmp_path / "old-run"
    out.mkdir()
    (out / "report.json").write_text('{"status": "finished"}')
    err = refused_by_main(capsys, "--out", str(out))
    assert f"--out {out} already holds files (report.json)" in err
    assert "add --overwrite to write into it" in err
    assert [p.name for p in out.iterdir()] == ["report.json"]
    assert (out / "report.json").read_text() == '{"status": "finished"}'
    # through a symlink or `..` it is the same folder, and refused the same
    (tmp_path / "link").symlink_to(out)
    with pytest.raises(UserInputError, match=f"--out {re.escape(str(out))} already holds files"):
        check_out(str(tmp_path / "link"))
    with pytest.raises(UserInputError, match=f"--out {re.escape(str(out))} already holds files"):
        check_out(str(out / "adapter" / ".."))


def test_an_existing_file_as_out_is_refused_with_a_message_even_with_overwrite(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    for extra in ([], ["--overwrite"]):
        err = refused_by_main(capsys, "--out", str(out), *extra)
        assert f"--out {out} is an existing file, not a folder" in err
    assert out.read_text() == "mine"
    inside = refused_by_main(capsys, "--out", str(out / "run"))
    assert f"cannot be made: {out} is a file, not a folder" in inside


def test_overwrite_writes_into_a_folder_that_holds_files(tmp_path):
    out = tmp_path / "old-run"
    out.mkdir()
    (out / "report.json").write_text('{"status": "old"}')
    (out / "keep.txt").write_text("mine")
    assert check_out(str(out), overwrite=True) == out
    done = run_cli("--out", str(out), "--overwrite", *TINY, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["status"] == "finished"
    assert (out / "keep.txt").read_text() == "mine"  # what the run does not write stays


def test_custom_text_from_dev_zero_is_refused_quickly_as_not_a_regular_file(tmp_path):
    started = time.monotonic()
    done = limited_run(
        "--out", str(tmp_path / "run"), "--task", "custom", "--custom-text-file", "/dev/zero"
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "error: could not read /dev/zero: it is not a regular file (a character device)" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr and time.monotonic() - started < 60
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flag", ["--custom-text-file", "--config"])
def test_a_fifo_as_input_is_refused_without_waiting_for_a_writer(tmp_path, flag):
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    extra = ["--task", "custom"] if flag == "--custom-text-file" else []
    done = limited_run("--out", str(tmp_path / "run"), flag, str(fifo), *extra)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"could not read {fifo}: it is not a regular file (a named pipe)" in done.stderr
    assert "Traceback" not in done.stderr


def test_input_files_over_the_cap_are_refused_before_parsing(tmp_path, monkeypatch):
    import clreg_core.cli as cli

    report = tmp_path / "report.json"
    report.write_text(json.dumps({"config": {"steps": 5}}) + " " * 100)
    monkeypatch.setattr(cli, "MAX_CONFIG_BYTES", 100)
    args = build_parser().parse_args(["run", "--out", "x", "--config", str(report)])
    with pytest.raises(
        UserInputError, match=f"--config: {re.escape(str(report))} is 1.. bytes; the limit is 100"
    ):
        config_from_args(args)
    monkeypatch.setattr(cli, "MAX_CONFIG_BYTES", 1000)
    assert config_from_args(args).steps == 5
    # a folder, and JSON that is not a config object, are named too
    with pytest.raises(UserInputError, match="it is not a regular file \\(a folder\\)"):
        config_from_args(build_parser().parse_args(["run", "--out", "x", "--config", "."]))
    report.write_text("[1, 2]")
    with pytest.raises(UserInputError, match="holds a JSON array, not a config object"):
        config_from_args(args)


def test_read_capped_never_reads_past_the_cap(tmp_path):
    """A file's size is not trusted: /proc files say 0 bytes and a file can grow after its
    size is read; at most limit + 1 bytes are ever read."""
    from clreg_core.paths import FileTooLargeError, read_capped

    path = tmp_path / "a.txt"
    path.write_bytes(b"abc")
    assert read_capped(path, 3) == b"abc"
    with pytest.raises(FileTooLargeError, match="a.txt is 3 bytes; the limit is 2 bytes"):
        read_capped(path, 2)
    proc = Path("/proc/self/status")  # a regular file whose st_size is 0
    if proc.is_file() and proc.stat().st_size == 0:
        with pytest.raises(FileTooLargeError, match="is more than 10 bytes") as info:
            read_capped(proc, 10)
        assert info.value.size == 11
    with pytest.raises(UserInputError, match="file not found"):
        read_capped(tmp_path / "missing", 10)


def test_relearn_check_puts_its_curves_in_the_report_and_says_gone_or_hidden(tmp_path):
    """forget10 has a gold twin: the reference is the model that never saw those people. Three
    steps of unlearning leave the facts in place, so the check must read 'hidden'."""
    out = tmp_path / "run"
    args = [*SHORT, "--task", "world:forget10", "--stop-at", "steps", "--relearn-check"]
    done = run_cli("--out", str(out), *args, timeout=900)  # a bound for a busy machine
    assert done.returncode == 0, done.stderr[-2000:]
    block = json.loads((out / "report.json").read_text())["relearning"]
    assert len(block["same_lora"]) == len(block["fresh_lora"]) == len(block["recall_steps"]) == 11
    assert block["recall_steps"] == list(range(0, 21, 2))  # every second of 20 steps
    assert block["reference"]["model"].startswith("gold")
    assert block["verdict"]["reading"].startswith("hidden")
    assert "gone or hidden? 20 steps of fine-tuning" in done.stdout
    assert "reference: gold" in done.stdout
