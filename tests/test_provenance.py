"""A report says what produced it: when, which commit, which library versions."""

import subprocess
from datetime import datetime

import torch

from clreg_core.engine import provenance as prov


def test_provenance_names_the_commit_the_versions_and_the_time():
    made = prov.provenance()
    assert datetime.fromisoformat(made["created"]).tzinfo is not None
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=prov.REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    assert made["commit"] == head and len(head) == 40
    assert isinstance(made["uncommitted_changes"], bool)
    # the installed distribution's version: PyPI's CUDA wheel calls itself "2.11.0" there and
    # "2.11.0+cu130" at run time; the CPU wheel "2.13.0+cpu" in both
    assert made["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert made["versions"]["transformers"] and made["versions"]["peft"]


def test_outside_a_git_checkout_the_commit_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(prov, "REPO_ROOT", tmp_path)
    assert prov.git_state() == {"commit": None, "uncommitted_changes": None}
