"""TOFU and MUSE loaders, run for real through `datasets` on tiny invented fixtures.

The fixtures under tests/fixtures/{tofu,muse} follow the hub schemas (see the module docstring of
clreg_core.data.hub_datasets); the hub itself is only used to check that being offline fails fast.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from clreg_core import hub
from clreg_core.data.hub_datasets import (
    MAX_ITEMS_PER_SPLIT,
    PASSAGE_CHARS,
    load_muse,
    load_tofu,
)
from clreg_core.errors import ModelUnavailableError, UserInputError

FIXTURES = Path(__file__).parent / "fixtures"
TOFU = str(FIXTURES / "tofu")
MUSE = str(FIXTURES / "muse")


@pytest.fixture
def hub_down(monkeypatch):
    """A hub endpoint nothing listens on: the probe is refused at once, deterministically."""
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    hub.clear_hub_cache()
    yield
    hub.clear_hub_cache()


def test_tofu_forget01_sizes_and_fields():
    task = load_tofu("forget01", source=TOFU)
    assert task.name == "TOFU forget01"
    assert (len(task.forget), len(task.retain), len(task.holdout)) == (6, 9, 6)
    assert all(i.kind == "qa" and i.question and i.answer and i.group is None for i in task.forget)
    first = task.forget[0]
    assert first.question == "Where was the novelist Tamsin Oduya-Kell born?"
    assert first.answer.startswith("Tamsin Oduya-Kell was born in Mombasa")
    assert first.paraphrased_answer.startswith("Mombasa, on the Kenyan coast")
    # perturbed_answer is a list column in TOFU; every forget row gets all three.
    assert all(i.paraphrased_answer and len(i.perturbed_answers) == 3 for i in task.forget)
    assert "Lagos" in first.perturbed_answers[0]
    # retain_perturbed covers only some retain questions; the others keep plain QA.
    with_extras = [i for i in task.retain if i.perturbed_answers]
    assert [i.question for i in with_extras] == [
        "What city does the poet Ilse Varrow live in?",
        "What did Joaquim Restrel study before writing?",
    ]
    assert not any(i.paraphrased_answer for i in task.holdout)
    assert {i.question for i in task.forget}.isdisjoint(i.question for i in task.holdout)


def test_tofu_without_perturbed_config_still_loads():
    task = load_tofu("forget05", source=TOFU)
    assert (len(task.forget), len(task.retain), len(task.holdout)) == (3, 6, 3)
    assert not any(i.paraphrased_answer or i.perturbed_answers for i in task.forget)


def test_tofu_max_retain_spreads_over_the_split():
    task = load_tofu("forget01", source=TOFU, max_retain=3)
    # evenly spaced rows 0, 3, 6: one question per retain author, not the first author thrice
    authors = ("Ilse Varrow", "Joaquim Restrel", "Mirela Kostadin")
    assert len(task.retain) == 3
    assert all(name in item.question for name, item in zip(authors, task.retain, strict=True))


def test_tofu_missing_required_config_names_the_file(tmp_path):
    (tmp_path / "forget10").mkdir()
    (tmp_path / "forget10" / "train.jsonl").write_text('{"question": "q?", "answer": "a"}\n')
    with pytest.raises(UserInputError, match=r"retain90.train\.jsonl does not exist"):
        load_tofu("forget10", source=str(tmp_path))


def test_tofu_wrong_columns_are_reported(tmp_path):
    for config in ("forget01", "retain99"):
        (tmp_path / config).mkdir()
        (tmp_path / config / "train.jsonl").write_text('{"prompt": "q?", "answer": "a"}\n')
    with pytest.raises(UserInputError, match=r"lacks column\(s\) \['question'\]"):
        load_tofu("forget01", source=str(tmp_path))


@pytest.mark.parametrize("bad", ["forget02", "retain90", "", "FORGET10"])
def test_tofu_bad_split_lists_the_valid_ones(bad):
    with pytest.raises(UserInputError, match=r"forget01.*forget05.*forget10"):
        load_tofu(bad, source=TOFU)


def test_tofu_bad_max_retain():
    with pytest.raises(UserInputError, match="max_retain"):
        load_tofu("forget01", source=TOFU, max_retain=0)


def test_missing_local_folder_is_a_clear_error():
    with pytest.raises(UserInputError, match="does not exist"):
        load_tofu("forget01", source="./no/such/tofu_folder")


def test_muse_knowmem():
    task = load_muse("news", source=MUSE, use="knowmem")
    assert task.name == "MUSE-News knowmem"
    assert (len(task.forget), len(task.retain), len(task.holdout)) == (4, 3, 0)
    assert task.forget[1].question == "Who is Marrowick council's transport officer?"
    assert task.forget[1].answer == "Hester Quayle"
    assert all(i.kind == "qa" for i in task.forget + task.retain)


def test_muse_raw_passages():
    task = load_muse("news", source=MUSE, use="raw")
    assert task.name == "MUSE-News raw"
    assert all(i.kind == "passage" for i in task.forget + task.retain + task.holdout)
    assert all(len(i.text) <= PASSAGE_CHARS for i in task.forget)
    # the 974-character article becomes two passages of the same group, cut at a sentence end
    article = [i for i in task.forget if i.group == "muse-news:forget:doc0"]
    assert len(article) == 2
    assert article[0].text.endswith((".", "!", "?", '"'))
    assert len(task.forget) == 3 and len(task.retain) == 2 and len(task.holdout) == 2
    assert task.groups == ("muse-news:forget:doc0", "muse-news:forget:doc1")


def test_muse_raw_is_capped(tmp_path):
    (tmp_path / "raw").mkdir()
    long_text = "A fairly ordinary sentence about a harbour. " * 5000
    for split in ("forget", "retain1", "holdout"):
        (tmp_path / "raw" / f"{split}.jsonl").write_text(f'{{"text": "{long_text}"}}\n')
    task = load_muse("books", source=str(tmp_path), use="raw")
    assert len(task.forget) == len(task.retain) == len(task.holdout) == MAX_ITEMS_PER_SPLIT


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"corpus": "papers"}, r"corpus must be one of \['books', 'news'\]"),
        ({"use": "verbmem"}, r"use must be one of \['knowmem', 'raw'\]"),
    ],
)
def test_muse_bad_arguments(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        load_muse(**{"source": MUSE, **kwargs})


@pytest.mark.usefixtures("hub_down")
@pytest.mark.parametrize(
    "load", [lambda: load_tofu("forget10"), lambda: load_muse("books", use="raw")]
)
def test_unreachable_hub_fails_fast(load):
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="127.0.0.1:9 cannot be reached") as err:
        load()
    assert time.monotonic() - start < 5
    assert "Fictional World" in str(err.value)


@pytest.mark.usefixtures("hub_down")
def test_offline_setting_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="offline mode is set"):
        load_muse("news", source="muse-bench/MUSE-News")
    assert time.monotonic() - start < 5


@pytest.mark.usefixtures("hub_down")
def test_local_folder_never_needs_the_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert len(load_tofu("forget01", source=TOFU).forget) == 6
