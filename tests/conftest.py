"""Fixtures shared by test modules: the embedded tokenizer and a small world task."""

import pytest
from transformers import AutoTokenizer

from clreg_core.data.items import UnlearningTask
from clreg_core.data.sources import build_task
from clreg_core.models.registry import EMBEDDED_DIR


@pytest.fixture(scope="session")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    return tok


@pytest.fixture(scope="session")
def small_task():
    full = build_task("world:forget01")
    return UnlearningTask("small", full.forget[:32], full.retain[:64], full.holdout[:32])
