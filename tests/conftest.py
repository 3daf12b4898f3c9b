"""Fixtures shared by test modules: the embedded tokenizer and a small world task."""

import os

import pytest
from transformers import AutoTokenizer

from clreg_core.data.items import UnlearningTask
from clreg_core.data.sources import build_task
from clreg_core.models.registry import EMBEDDED_DIR

# Every test measures for itself: a measurement left on disk by an earlier suite run (or by
# the app) must not stand in for one a test is about to check. test_measurement_cache.py
# switches it on where it is the subject. Subprocesses (CLI tests) inherit this.
os.environ["CLREG_MEASUREMENT_CACHE"] = "0"


@pytest.fixture(scope="session")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(EMBEDDED_DIR)
    return tok


@pytest.fixture(scope="session")
def small_task():
    full = build_task("world:forget01")
    return UnlearningTask("small", full.forget[:32], full.retain[:64], full.holdout[:32])
