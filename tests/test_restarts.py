"""What a restart leaves for the pages (app/restarts.py, run_export.mark_interrupted)."""

import json
import os
import subprocess
import sys

from clreg_core.app.restarts import Interrupted, mark_owner, new_page_key, valid_page_key
from clreg_core.app.run_export import SERVER_FILE, mark_interrupted, mark_server


def half_done(folder, label="npo-clreg"):
    folder.mkdir()
    (folder / f"{label}-in-progress.json").write_text(json.dumps({"status": "running"}))


def test_the_page_that_made_a_run_gets_its_report_and_others_only_hear_of_it(tmp_path):
    mine, theirs, api = new_page_key(), new_page_key(), None
    for name, key in (("a", mine), ("b", theirs), ("c", api)):
        half_done(tmp_path / name)
        mark_owner(tmp_path / name, key)
    assert mine not in (tmp_path / "a" / ".page").read_text()  # only a hash of the key
    interrupted = Interrupted.from_reports(mark_interrupted(tmp_path))
    assert interrupted.count == 3
    assert interrupted.reports_for(mine) == [tmp_path / "a" / "npo-clreg-interrupted-report.json"]
    assert "your run was interrupted" in interrupted.notice(mine)
    stranger = interrupted.notice(new_page_key())
    assert "3 runs that were going then were interrupted" in stranger
    assert interrupted.reports_for(new_page_key()) == [] and interrupted.reports_for(None) == []
    assert Interrupted().notice(mine) is None  # no restart cut anything short


def test_a_stored_key_is_used_only_if_it_looks_like_one_the_server_made():
    assert valid_page_key(new_page_key())
    for stored in (None, "", "short", 12, {"a": 1}, "é" * 20, "x" * 500):
        assert not valid_page_key(stored)


def test_a_second_server_leaves_the_live_runs_of_the_first_alone(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        half_done(tmp_path / "live")
        (tmp_path / "live" / SERVER_FILE).write_text(str(other.pid))
        half_done(tmp_path / "dead")
        (tmp_path / "dead" / SERVER_FILE).write_text("999999999")  # no such process
        half_done(tmp_path / "mine")
        mark_server(tmp_path / "mine")
        assert (tmp_path / "mine" / SERVER_FILE).read_text() == str(os.getpid())
        marked = {p.parent.name for p in mark_interrupted(tmp_path)}
        assert marked == {"dead", "mine"}
        assert (tmp_path / "live" / "npo-clreg-in-progress.json").exists()
    finally:
        other.kill()
        other.wait()
