"""A server killed mid-run and started again, as a real browser sees it: the page that was open
reloads, finds its interrupted run's report, and a page from another browser is told that runs
were interrupted. The app runs as `python app.py` in its own temporary folder, so that its
restart marks only its own runs."""

import re
import signal
from pathlib import Path

import pytest

from benchmarks.serving import free_port, serve

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
BOUND_MS = 300_000  # a bound for a busy 2-core machine, not a target


def test_after_a_restart_the_page_gets_its_interrupted_run_back(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = serve(port, BOUND_MS / 1000, TMPDIR=str(tmp_path))
    try:
        with playwright_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            mine = browser.new_context().new_page()
            mine.goto(url)
            expect(mine.locator("#progress")).to_contain_text("Pick a model", timeout=BOUND_MS)
            # A run long enough to be going when the server is killed, however slow the page.
            mine.get_by_text("after all steps (may go past parity)").click()
            mine.get_by_text("Advanced settings").click()
            steps = mine.locator("#adv-steps input")
            steps.fill("400")
            steps.blur()
            expect(steps).to_have_value("400")
            mine.locator("#run").click()
            # Training has measured something (the partial report is written at each stage).
            expect(mine.locator("#progress")).to_contain_text(
                re.compile(r"step [1-9]\d*/400"), timeout=BOUND_MS
            )
            server.send_signal(signal.SIGKILL)
            server.wait(60)
            server = serve(port, BOUND_MS / 1000, TMPDIR=str(tmp_path))
            # The open page reloads by itself when the server is back.
            expect(mine.locator("#progress")).to_contain_text(
                "your run was interrupted", timeout=BOUND_MS
            )
            mine.get_by_text("Export: report, adapter, plots, CLI command").click()
            expect(mine.locator("#exports")).to_contain_text("interrupted-report")
            # Another browser (its own storage) is told only that a run was interrupted.
            other = browser.new_context().new_page()
            other.goto(url)
            expect(other.locator("#progress")).to_contain_text(
                "a run that was going then was interrupted", timeout=BOUND_MS
            )
            other.get_by_text("Export: report, adapter, plots, CLI command").click()
            expect(other.locator("#exports")).to_be_visible()
            expect(other.locator("#exports")).not_to_contain_text("interrupted")
            browser.close()
    finally:
        server.terminate()
        server.wait(60)
