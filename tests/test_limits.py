"""What one caller may ask of a public server (app/limits.py), with the real session code."""

import pytest

from clreg_core.app.hosting import Hosting
from clreg_core.app.limits import RateLimit, caller_address, check_line
from clreg_core.app.run_queue import RunQueue
from clreg_core.app.session import Session, SessionRegistry
from clreg_core.config import default_config
from clreg_core.errors import UserInputError


def test_the_caller_is_the_first_forwarded_address_behind_a_proxy():
    assert caller_address({"x-forwarded-for": "203.0.113.7, 10.0.0.2"}, "10.0.0.2") == (
        "203.0.113.7"
    )
    assert caller_address({}, "127.0.0.1") == "127.0.0.1"


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
