"""Downloads of a run: report JSON, adapter zip, plots HTML, and the CLI command that
reproduces it. The run folder itself is written by the same `write_run_folder` as the CLI's, so
the app and the command line produce the same files."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import time
from dataclasses import fields
from pathlib import Path

from clreg_core.app.run_state import RunState
from clreg_core.config import RunConfig, default_config
from clreg_core.engine.run_folder import write_run_folder

ALWAYS_SHOWN = ("model", "task", "method", "clreg", "steps", "seed")
CUSTOM_TEXT_FILE = "custom_text.txt"
STATUS_NAMES = {"cancelled": "stopped"}  # in file names, the page's word for a status


def slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def cli_command(config: RunConfig, out: str, custom_text_file: str | None = None) -> str:
    """`python -m clreg_core run ...` with the settings that make this run: the main choices
    always, the rest only where they differ from the model's defaults for its method (which
    the command gets again from `--method`)."""
    defaults = default_config(config.model, method=config.method, clreg=config.clreg)
    args = ["python", "-m", "clreg_core", "run"]
    for f in fields(RunConfig):
        value = getattr(config, f.name)
        if f.name not in ALWAYS_SHOWN and value == getattr(defaults, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            args += [flag, *value]
        else:
            args += [flag, str(value)]
    if custom_text_file:
        args += ["--custom-text-file", custom_text_file]
    args += ["--out", out]
    return " ".join(shlex.quote(a) for a in args)


def export_run(folder: Path, state: RunState, result, custom_text: str | None) -> list[Path]:
    """Write the run folder under `folder` and return the files a user downloads: the report and,
    for a finished run, a zip of the LoRA adapter (with points.jsonl and, for own text, that
    text). A stopped or failed run's files say so in their names."""
    name = slug(state.label)
    if result.status != "finished":
        name += "-" + STATUS_NAMES.get(result.status, result.status)
    run_dir = folder / name
    write_run_folder(run_dir, result, custom_text)
    report = folder / f"{name}-report.json"
    shutil.copyfile(run_dir / "report.json", report)
    files = [report]
    if (run_dir / "adapter").is_dir():
        archive = shutil.make_archive(str(folder / f"{name}-adapter"), "zip", run_dir)
        files.append(Path(archive))
    return files


def commands_text(runs: list[RunState], custom_text: bool) -> str:
    text_file = CUSTOM_TEXT_FILE if custom_text else None
    lines = [
        f"# {r.label}\n" + cli_command(r.config, f"runs/{slug(r.label)}", text_file) for r in runs
    ]
    lines.append(
        "# or rerun exactly from a downloaded report:\n"
        "python -m clreg_core run --config report.json --out runs/again"
    )
    return "\n".join(lines)


def prune_exports(root: Path, max_age_s: float, keep: Path | None = None) -> int:
    """Delete the download folders under `root` older than `max_age_s` (a hosted app writes a
    few MB per run and would otherwise fill its disk), except `keep`; returns how many went."""
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for folder in root.iterdir():
        if folder == keep:  # a long run's own folder, made when it started
            continue
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


IN_PROGRESS = "-in-progress.json"
INTERRUPTED_REASON = (
    "the server stopped during this run (killed or restarted); what it had measured is kept"
)


def progress_report(state: RunState) -> dict:
    """What the page knows of a run so far: its config, stage, losses and live evaluations."""
    return {
        "config": state.config.to_dict(),
        "status": "running",
        "stage": state.stage,
        "history": {"steps": state.losses, "evaluations": state.evaluations},
        "written_at": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_progress(folder: Path, state: RunState) -> Path:
    """A running run's `progress_report`, written atomically beside its future downloads, so a
    killed server still leaves a partial report."""
    path = folder / f"{slug(state.label)}{IN_PROGRESS}"
    partial = progress_report(state)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(partial), encoding="utf-8")
    os.replace(temporary, path)  # a reader never sees half a file
    return path


SERVER_FILE = ".server"  # in a download folder: the process id of the server writing it


def mark_server(folder: Path) -> None:
    """Record which process writes `folder`, so that another server starting on the same
    machine (same temporary folder) leaves its live runs alone."""
    (folder / SERVER_FILE).write_text(str(os.getpid()), encoding="ascii")


def _written_by_a_live_server(folder: Path) -> bool:
    try:
        pid = int((folder / SERVER_FILE).read_text(encoding="ascii"))
    except (OSError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, under another user
    return True


def mark_interrupted(root: Path) -> list[Path]:
    """At start: a run that was in progress when its server died becomes an interrupted
    report (`...-interrupted-report.json`, its content kept); returns those reports. Runs of
    another server still alive on this machine are not touched."""
    if not root.is_dir():
        return []
    marked = []
    for path in root.glob(f"*/*{IN_PROGRESS}"):
        if _written_by_a_live_server(path.parent):
            continue
        try:
            partial = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # unreadable: left as it is, pruned with its folder later
        partial.update(status="interrupted", reason=INTERRUPTED_REASON)
        report = path.with_name(path.name.removesuffix(IN_PROGRESS) + "-interrupted-report.json")
        report.write_text(json.dumps(partial, indent=1), encoding="utf-8")
        path.unlink()
        marked.append(report)
    return marked
