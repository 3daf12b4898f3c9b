"""What one caller may ask of a public server (app/limits.py), with the real session code."""

import shutil
import time
from pathlib import Path

import pytest

from clreg_core.app.hosting import Hosting
from clreg_core.app.limits import (
    RateLimit,
    Watch,
    behind_proxy,
    caller_address,
    check_line,
    check_model_folder,
    model_roots,
)
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.session import Session, SessionRegistry
from clreg_core.config import default_config
from clreg_core.errors import UserInputError


def test_the_caller_is_the_peer_unless_a_proxy_forwards_the_address():
    spoofed = {"x-forwarded-for": "81.2.69.160"}
    # No proxy: the header is the caller's own to write, so it is not believed.
    assert caller_address(spoofed, "127.0.0.1", proxied=False) == "127.0.0.1"
    # Behind proxies, the last public address: what the outermost proxy saw. Entries left of
    # it were written by the caller; private ones are the proxies' own hops.
    forwarded = {"x-forwarded-for": "1.2.3.4, not-an-address, 81.2.69.160, 10.0.0.2"}
    assert caller_address(forwarded, "10.0.0.3", proxied=True) == "81.2.69.160"
    assert caller_address({}, "10.0.0.3", proxied=True) == "10.0.0.3"


def test_a_space_counts_as_behind_a_proxy(monkeypatch):
    monkeypatch.delenv("CLREG_BEHIND_PROXY", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not behind_proxy()
    monkeypatch.setenv("SPACE_ID", "someone/clreg-lab")
    assert behind_proxy()
    assert caller_address({"x-forwarded-for": "81.2.69.160"}, "10.0.0.3") == "81.2.69.160"


def test_a_run_counts_as_watched_while_its_answers_are_read_or_its_page_calls():
    unread, last_call = [0], [time.monotonic()]
    watch = Watch(lambda: unread[0], lambda: last_call[0], limit_s=0.3)
    assert not watch.gone()
    unread[0] = 50  # answers pile up: nobody reads the stream
    time.sleep(0.4)
    assert watch.gone()
    last_call[0] = time.monotonic()  # the page's timer ticked
    assert not watch.gone()
    time.sleep(0.4)
    assert watch.gone()
    unread[0] = 0  # a late reader took them all
    assert not watch.gone()
    cannot_tell = Watch(lambda: None, lambda: 0.0, limit_s=0.01)
    time.sleep(0.05)
    assert not cannot_tell.gone()  # where Gradio does not say, nothing is stopped
    never = Watch(lambda: 50, lambda: 0.0, limit_s=0.0)  # CLREG_UNWATCHED_S=0: no limit
    assert not never.gone()


def test_a_public_host_offers_folders_only_under_its_roots(monkeypatch, tmp_path):
    offered, elsewhere = tmp_path / "offered", tmp_path / "elsewhere"
    (offered / "model").mkdir(parents=True)
    elsewhere.mkdir()
    (offered / "escape").symlink_to(elsewhere)
    monkeypatch.setenv("CLREG_MODEL_ROOTS", str(offered))
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("CLREG_PUBLIC", raising=False)
    check_model_folder(str(elsewhere))  # a personal machine: anything goes
    monkeypatch.setenv("CLREG_PUBLIC", "1")
    check_model_folder(str(offered / "model"))
    check_model_folder("embedded")
    check_model_folder("someone/some-model")  # a hub id, not a folder
    for path in (elsewhere, offered / "escape", offered / ".." / "elsewhere", "/etc", "/nope"):
        with pytest.raises(UserInputError, match="not a model folder this server offers"):
            check_model_folder(str(path))


def test_the_default_roots_are_the_assets_and_the_model_cache(monkeypatch):
    from huggingface_hub.constants import HF_HUB_CACHE

    from clreg_core.paths import ASSETS_DIR

    monkeypatch.delenv("CLREG_MODEL_ROOTS", raising=False)
    roots = model_roots()
    assert ASSETS_DIR.resolve() in roots and Path(HF_HUB_CACHE).resolve() in roots


def test_download_folders_have_unguessable_names_and_only_the_server_reads_them():
    from clreg_core.app.attempts import new_export_folder

    folders = {new_export_folder() for _ in range(3)}
    for folder in folders:
        assert len(folder.name) >= 22  # 128 random bits in URL-safe base64
        assert folder.stat().st_mode & 0o777 == 0o700
        shutil.rmtree(folder)
    assert len(folders) == 3


def test_a_full_line_turns_new_runs_away_with_when_to_come_back(monkeypatch):
    monkeypatch.setenv("CLREG_MAX_WAITING", "2")
    check_line(1)
    with pytest.raises(UserInputError, match="busy: 2 runs are already waiting.*a minute"):
        check_line(2)
    queue = RunQueue()
    session = Session(Hosting(local_queue=queue))
    queue.join(), queue.join()  # two others in line
    with pytest.raises(UserInputError, match="busy"):
        session.start(default_config("embedded", steps=4))
    assert session.attempt is None
    monkeypatch.setenv("CLREG_MAX_WAITING", "0")  # no limit
    session.start(default_config("embedded", steps=4))


def test_one_run_at_a_time_per_address_across_sessions():
    registry = SessionRegistry()
    registry.hosting = Hosting(local_queue=RunQueue())
    first = registry.get("tab-1")
    first.start(default_config("embedded", steps=4), caller="198.51.100.4")
    registry.check_caller("198.51.100.4", "tab-1")  # the same page: its own rule applies
    registry.check_caller("198.51.100.5", "tab-2")  # another address
    with pytest.raises(UserInputError, match="already going in another page or API client"):
        registry.check_caller("198.51.100.4", "tab-2")
    first.stop()
    registry.check_caller("198.51.100.4", "tab-2")


def test_cheap_calls_are_rate_limited_per_caller():
    limit = RateLimit(per_minute=3)
    for _ in range(3):
        limit.check("a")
    limit.check("b")  # another caller has its own budget
    with pytest.raises(UserInputError, match="at most 3 a minute .* try again in \\d+ s"):
        limit.check("a")
