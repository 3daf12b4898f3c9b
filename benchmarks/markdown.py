"""Write one benchmark's section of BENCHMARKS.md without touching the others.

Each section sits between `<!-- name:start -->` and `<!-- name:end -->`; running a benchmark again
replaces its own section (or appends it the first time), so CPU and GPU results live side by side.
"""

from __future__ import annotations

import math
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"
HEADER = (
    "# Benchmarks\n\nWritten by the scripts in `benchmarks/`; each section says how to rerun it.\n"
)


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


def describe_machine(device) -> str:
    """The device a benchmark ran on, as its section and JSON file name it."""
    import platform

    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"


def provenance(out: dict, default_command: str) -> str:
    """When, where, with which command and how long: the first line of a section."""
    command = out.get("command", default_command).strip()
    return f"{out['date']}, {out['machine']}; `{command}` took {out['seconds'] / 60:.1f} min. "


def table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mean_spread(values: list[float], digits: int = 3) -> str:
    """'mean ± sd' over seeds ('n/a' when there is nothing to report)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"
