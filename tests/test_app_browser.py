"""The page in a real browser: Playwright driving Debian's chromium against the app served here.

A default embedded-model run to the end (the plot moves, the tables fill), a run on an uploaded
own-text file, A/B mode with small settings, Stop midway, a user mistake shown in the page, and
a server killed mid-run and started again. Set CLREG_SCREENSHOT_DIR to keep the screenshot of
the finished run (the README's comes from there)."""

import os
import re
import shutil
import signal
import socket
from pathlib import Path

import pytest

import app
from benchmarks.serving import free_port, serve
from clreg_core.app.ui_choices import CUSTOM_TASK

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (.ci/run)"),
]
playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
# Every wait is on a state of the page, with a bound generous enough for a busy 2-core machine
# (runs there are 5-15x slower than on a quiet one); a quiet machine never waits this long.
expect.set_options(timeout=60_000)
RUN_BOUND_MS = 600_000  # a whole run to its end view (44 s on a quiet 2-core machine)


@pytest.fixture(scope="module")
def url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo = app.launch(port=port, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    expect(page.locator("#run")).to_be_visible()
    expect(page.locator("#progress")).to_contain_text("Pick a model")
    yield page
    page.close()


def set_advanced(page, **values):
    page.get_by_text("Advanced settings").click()
    for name, value in values.items():
        box = page.locator(f"#adv-{name} input")
        # A page still applying its load-time updates can put a field's default back after a
        # fill; type again until the value holds, as a user would.
        for _ in range(5):
            box.fill(str(value))
            box.blur()
            page.wait_for_timeout(300)
            if box.input_value() == str(value):
                break
        expect(box).to_have_value(str(value))


# Whether a table shows all its rows: the last row's bottom is inside every scrolling box
# around it, and no column runs past the right edge.
TABLE_FITS_JS = """e => {
  const rows = [...e.querySelectorAll('tbody tr')];
  if (!rows.length) return 'no rows';
  const last = rows[rows.length - 1].getBoundingClientRect();
  for (let a = rows[0].parentElement; a && a !== e.parentElement; a = a.parentElement) {
    const style = getComputedStyle(a);
    const box = a.getBoundingClientRect();
    if (/(auto|scroll|hidden)/.test(style.overflowY) && last.bottom > box.bottom + 1)
      return `last row clipped: ${last.bottom} > ${box.bottom}`;
    if (/(auto|scroll|hidden)/.test(style.overflowX) && a.scrollWidth > a.clientWidth + 1)
      return `wider than its box: ${a.scrollWidth} > ${a.clientWidth}`;
  }
  return 'ok';
}"""


def test_before_a_run_tables_have_headers_and_the_probe_shows_every_row(page):
    expect(page.locator("#metrics")).to_contain_text("what it means")  # not "1 2 3"
    expect(page.locator("#generations")).to_contain_text("expected")
    expect(page.locator("#ask-hint")).to_contain_text("invented world")
    # "Before you run" comes before the Run button
    probe = page.locator("#probe")
    page.get_by_text("Before you run: what does the model know").click()
    assert probe.bounding_box()["y"] < page.locator("#run").bounding_box()["y"]
    probe.click()
    table = page.locator("#probe-table")
    expect(table).to_contain_text("retain", timeout=RUN_BOUND_MS)
    expect(table).to_contain_text("forget")
    assert table.evaluate(TABLE_FITS_JS) == "ok"
    page.set_viewport_size({"width": 1280, "height": 1000})  # a laptop: still no sideways scroll
    page.wait_for_timeout(300)
    assert table.evaluate(TABLE_FITS_JS) == "ok"
    expect(table).to_contain_text("What embedded knows about world:forget10")
    # Another model: those were the embedded model's answers. They go, and the title names
    # whose answers the table will hold (no model is loaded for that).
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option").filter(has_text="SmolLM2-135M-Instruct").click()
    expect(table).to_contain_text("What smollm2-135m knows about")
    expect(table).not_to_contain_text("✔")  # no rows left: no right or wrong marks
    expect(table).not_to_contain_text("✘")
    expect(page.locator("#answers")).to_contain_text("Answers of smollm2-135m")
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option").filter(has_text="Fictional-World Llama").click()
    expect(table).to_contain_text("What embedded knows about")
    # a suggested question fills the box
    page.locator("#suggested input").click()
    page.get_by_role("option").filter(has_text="[keep]").first.click()
    question = page.get_by_label("Ask both models (original and unlearned)")
    expect(question).not_to_have_value("")
    assert not question.input_value().startswith("[")


def test_the_guided_tour_points_at_the_plot(page):
    page.get_by_text("Guided tour: five steps").click()
    page.locator("#tour-1").click()
    expect(page.locator("#scatter")).to_have_class(re.compile("tour-highlight"))
    page.locator("#tour-2").click()
    expect(page.locator("#metrics")).to_have_class(re.compile("tour-highlight"))
    expect(page.locator("#scatter")).not_to_have_class(re.compile("tour-highlight"))
    page.locator("#tour-5").click()  # gone or hidden: the box to tick before the run
    expect(page.locator("#relearn-check")).to_have_class(re.compile("tour-highlight"))
    # the tour speaks of the chosen topic: a pack's questions, judged by a distance, no gold
    first, second = page.locator("#tour-text-1"), page.locator("#tour-text-2")
    expect(first).to_contain_text("parity AUC falls into the green band")
    expect(second).to_contain_text("gold column")
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option").filter(has_text="SmolLM2-135M-Instruct").click()
    expect(first).to_contain_text("the Chemical elements questions")
    expect(first).to_contain_text("distance to parity falls to 1 or below")
    expect(first).not_to_contain_text("green band")
    expect(second).to_contain_text("no gold model for this topic")


def test_default_run_moves_the_plot_and_fills_the_tables(page, tmp_path):
    page.locator("#run").click()
    # While it goes, a second Run, A/B or Check could only be refused: they are off.
    for button in ("#run", "#ab", "#check"):
        expect(page.locator(button)).to_be_disabled()
    expect(page.locator("#stop")).to_be_enabled()
    # The first points (step 0) come before training; later evaluations move them.
    expect(page.locator("#scatter")).to_contain_text("step 0/100")
    expect(page.locator("#progress")).to_contain_text(re.compile(r"step \d+/100"))
    expect(page.locator("#scatter")).to_contain_text(re.compile(r"step [1-9]\d*/100"))
    expect(page.locator("#curves")).to_contain_text("Loss terms")
    expect(page.locator("#curves")).to_contain_text("Parity AUC")
    expect(page.locator("#generations")).to_contain_text("forget", timeout=RUN_BOUND_MS)
    # The default stops at parity: 100 steps is a ceiling, the progress line says where it ended.
    expect(page.locator("#progress")).to_contain_text("finished")
    for button in ("#run", "#ab", "#check"):
        expect(page.locator(button)).to_be_enabled(timeout=RUN_BOUND_MS)
    expect(page.locator("#progress")).to_contain_text("parity")
    expect(page.locator("#metrics")).to_contain_text("entanglement score")
    expect(page.locator("#metrics")).to_contain_text("gold (never saw the forget set)")
    expect(page.locator("#generations")).to_contain_text("gold model (never saw the forget set)")
    expect(page.locator("#paper")).to_contain_text("Feature entanglement")
    expect(page.locator("#layers")).to_contain_text("Representations at every decoder block")
    expect(page.locator("#layers")).to_contain_text("Representation membership")
    expect(page.locator("#layers")).to_contain_text("gold (never saw the forget set)")
    expect(page.locator("#paper")).to_contain_text("gold (never saw the forget set)")
    expect(page.locator("#metrics")).to_contain_text("representation membership")
    page.locator("#answers").scroll_into_view_if_needed()
    page.get_by_label("Ask both models (original and unlearned)").fill(
        "Where was Riaisuv Fivane born?"
    )
    page.locator("#ask").click()
    expect(page.locator("#answers")).to_contain_text("after NPO + CLReg")
    expect(page.locator("#answers")).to_contain_text("gold model (never saw the forget set)")
    for table in ("#generations", "#answers", "#metrics"):  # every row, nothing cut off
        assert page.locator(table).evaluate(TABLE_FITS_JS) == "ok", table
    shot = tmp_path / "finished-run.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 50_000
    keep = os.environ.get("CLREG_SCREENSHOT_DIR")
    if keep:
        shutil.copyfile(shot, Path(keep) / shot.name)


def test_ab_mode_shows_both_runs_side_by_side(page):
    set_advanced(page, steps=6, eval_every=2, final_eval_items=16)
    page.locator("#ab").click()
    progress = page.locator("#progress")
    expect(progress).to_contain_text("/6")  # settings applied
    # both halves are named from the start: which one runs, and which one comes next
    expect(progress).to_contain_text("run 1 of 2 · NPO:")
    expect(progress).to_contain_text("run 2 of 2 · NPO + CLReg")
    expect(page.locator("#metrics")).to_contain_text("after NPO + CLReg", timeout=RUN_BOUND_MS)
    expect(page.locator("#metrics")).to_contain_text("after NPO")
    expect(page.locator("#generations")).to_contain_text("after NPO + CLReg")
    expect(progress).to_contain_text(re.compile(r"run 2 of 2 · NPO \+ CLReg: finished"))
    scatter = page.locator("#scatter")
    expect(scatter.locator("text.annotation-text")).to_have_count(2)
    expect(scatter).to_contain_text("step 6/6")
    first, second = (t.bounding_box() for t in scatter.locator("text.annotation-text").all())
    assert first["x"] + first["width"] < second["x"], (first, second)  # the titles do not touch
    # One colour per run in the per-layer chart, and never red or blue (forget and retain)
    fills = set(page.locator("#layers g.trace.bars path").evaluate_all(
        "paths => paths.map(p => getComputedStyle(p).fill)"))  # fmt: skip
    assert {"rgb(148, 103, 189)", "rgb(140, 86, 75)"} <= fills, fills  # the two runs
    assert not fills & {"rgb(214, 39, 40)", "rgb(31, 119, 180)"}, fills
    # the runs list: both runs, reopened side by side
    page.get_by_text("Runs in this tab: reopen one, or compare two").click()
    runs_table = page.locator("#runs-table")
    expect(runs_table).to_contain_text("NPO + CLReg")
    page.set_viewport_size({"width": 1280, "height": 1000})  # every column in sight
    page.wait_for_timeout(300)
    assert runs_table.evaluate(TABLE_FITS_JS) == "ok"
    header = runs_table.locator("thead").inner_text()
    assert "entanglement" in header and "membership" in header  # no word broken in two
    pick = page.locator("#runs-pick input")
    for label in ("#1 NPO ·", "#2 NPO + CLReg ·"):
        pick.click()
        page.get_by_role("option").filter(has_text=label).click()
    page.locator("#runs-show").click()
    expect(page.locator("#runs-metrics")).to_contain_text("after #2 NPO + CLReg")
    expect(page.locator("#runs-metrics")).to_contain_text("after #1 NPO")
    expect(page.locator("#runs-curves")).to_contain_text("Loss terms")
    # Gone or only hidden, asked after the pair (once its downloads are written: until then
    # the pair's attempt is still going): both runs checked, side by side.
    expect(progress).not_to_contain_text("preparing the end view", timeout=RUN_BOUND_MS)
    page.locator("#check").click()
    expect(progress).to_contain_text("gone or only hidden?")
    relearning = page.locator("#relearning")
    expect(relearning).to_contain_text("after NPO + CLReg: its own LoRA", timeout=RUN_BOUND_MS)
    expect(relearning).to_contain_text("after NPO: its own LoRA")
    expect(relearning).to_contain_text("attack step")  # the points' slider
    expect(progress).to_contain_text(re.compile(r"NPO, gone or only hidden\? checked"))


def test_a_smollm2_pack_run_shows_the_distance_to_parity_not_an_unused_auc(page):
    # issue 32: on a pack the AUC chart sat near 1.0 while the line said "parity reached";
    # a pack's parity is judged on answers right against the never-learned level and fluency
    page.get_by_label("Model", exact=True).click()
    page.get_by_role("option").filter(has_text="SmolLM2-135M-Instruct").click()
    expect(page.get_by_label("Forget topic")).to_have_value(re.compile("Chemical elements"))
    # a short run, small live checks: what is drawn, not how far it gets, is the point here
    set_advanced(page, steps=6, eval_every=3, eval_items=6, final_eval_items=4)
    page.locator("#run").click()
    curves, progress = page.locator("#curves"), page.locator("#progress")
    expect(curves).to_contain_text("Distance to parity", timeout=RUN_BOUND_MS)
    expect(curves).to_contain_text("≤ 1 = at parity")
    expect(curves).not_to_contain_text("Parity AUC")
    expect(page.locator("#run")).to_be_enabled(timeout=RUN_BOUND_MS)
    expect(progress).to_contain_text("finished")
    expect(progress).to_contain_text(re.compile(r"parity (reached at step|not reached in 6)"))
    expect(progress).not_to_contain_text("strangers")
    expect(progress).not_to_contain_text("vs chance")
    expect(curves).to_contain_text("kept step")
    expect(curves).to_contain_text("never-learned level")
    expect(curves).not_to_contain_text("Parity AUC")
    # no gold model for a pack: no gold column, and no row says to read it against one
    metrics = page.locator("#metrics")
    expect(metrics).to_contain_text("lower, down to the never-learned level")
    expect(metrics).not_to_contain_text("gold's")
    expect(metrics).not_to_contain_text("never saw the forget set")
    expect(metrics).not_to_contain_text("forget people")


def test_stop_midway_and_mistakes_show_in_the_page(page):
    set_advanced(page, steps=400)
    page.locator("#run").click()
    expect(page.locator("#progress")).to_contain_text(re.compile(r"step [1-9]\d*/400"))
    page.locator("#stop").click()
    expect(page.locator("#progress")).to_contain_text("stopped by the user at step")
    page.get_by_text("Export: report, adapter, plots, CLI command").click()
    expect(page.locator("#exports")).to_contain_text("npo-clreg-stopped-report")
    page.get_by_label("…or a local folder / hub id").fill("no such model!")
    page.locator("#run").click()
    expect(page.get_by_text("unknown model 'no such model!'")).to_be_visible()
    expect(page.get_by_label("…or a local folder / hub id")).to_have_value("no such model!")


def test_typed_markup_shows_as_literal_text_in_the_message(page):
    typed = '<img src="http://elsewhere.example/x.png"><a href="http://elsewhere.example">link</a>'
    page.get_by_label("…or a local folder / hub id").fill(typed)
    page.locator("#run").click()
    expect(
        page.get_by_text('<img src="http://elsewhere.example/x.png">', exact=False)
    ).to_be_visible()
    assert page.locator('img[src*="elsewhere.example"]').count() == 0  # shown, not fetched
    assert page.locator('a[href*="elsewhere.example"]').count() == 0


def test_own_text_upload_reaches_the_server_before_run_uses_it(page, tmp_path):
    # A Run may use only files its own page uploaded (Session.check_upload): the page's upload
    # event must note the file on the server before Run, pressed as soon as the file shows.
    facts = tmp_path / "facts.jsonl"
    facts.write_text(
        "\n".join(
            f'{{"question": "What is the secret number of lock {i}?", "answer": "It is {i * 7}."}}'
            for i in range(8)
        ),
        encoding="utf-8",
    )
    page.get_by_label("Forget topic").click()
    page.get_by_role("option").filter(has_text=CUSTOM_TASK[0]).click()
    upload = page.locator(".block").filter(has_text="…or upload a .txt / .jsonl file")
    expect(upload.last).to_be_visible()
    set_advanced(page, steps=6, eval_every=2, final_eval_items=16)
    upload.last.locator("input[type=file]").set_input_files(str(facts))
    expect(upload.last).to_contain_text("facts.jsonl")
    page.locator("#run").click()
    progress = page.locator("#progress")
    # The model never knew these numbers: the run stops before training and says so...
    expect(progress).to_contain_text("nothing to forget", timeout=RUN_BOUND_MS)
    expect(progress).to_contain_text("Press Run again to go on anyway")
    expect(page.locator("#run")).to_be_enabled(timeout=RUN_BOUND_MS)
    page.locator("#run").click()  # ...and goes on anyway when asked again
    expect(progress).to_contain_text("/6")  # settings applied
    expect(progress).to_contain_text("finished", timeout=RUN_BOUND_MS)
    expect(page.get_by_text("not uploaded from this page")).to_have_count(0)
    expect(page.locator("#generations")).to_contain_text("secret number of lock")


def test_after_a_restart_the_page_gets_its_interrupted_run_back(browser, tmp_path):
    """The server killed mid-run and started again: the page that was open reloads and finds its
    interrupted run's report; a page of another browser is only told that a run was interrupted.
    This app runs as `python app.py` in its own temporary folder, so that its restart marks only
    its own runs."""
    bound_ms = 300_000  # a restart on a busy 2-core machine, not a target
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    server = serve(port, bound_ms / 1000, TMPDIR=str(tmp_path))
    mine_context, other_context = browser.new_context(), browser.new_context()  # own storages
    try:
        mine = mine_context.new_page()
        mine.goto(url)
        expect(mine.locator("#progress")).to_contain_text("Pick a model", timeout=bound_ms)
        # A run long enough to be going when the server is killed, however slow the page.
        mine.get_by_text("after all steps (may go past parity)").click()
        set_advanced(mine, steps=400)
        mine.locator("#run").click()
        # Training has measured something (the partial report is written at each stage).
        expect(mine.locator("#progress")).to_contain_text(
            re.compile(r"step [1-9]\d*/400"), timeout=bound_ms
        )
        server.send_signal(signal.SIGKILL)
        server.wait(60)
        server = serve(port, bound_ms / 1000, TMPDIR=str(tmp_path))
        # The open page reloads by itself when the server is back.
        expect(mine.locator("#progress")).to_contain_text(
            "your run was interrupted", timeout=bound_ms
        )
        mine.get_by_text("Export: report, adapter, plots, CLI command").click()
        expect(mine.locator("#exports")).to_contain_text("interrupted-report")
        # Another browser (its own storage) is told only that a run was interrupted.
        other = other_context.new_page()
        other.goto(url)
        expect(other.locator("#progress")).to_contain_text(
            "a run that was going then was interrupted", timeout=bound_ms
        )
        other.get_by_text("Export: report, adapter, plots, CLI command").click()
        expect(other.locator("#exports")).to_be_visible()
        expect(other.locator("#exports")).not_to_contain_text("interrupted")
    finally:
        mine_context.close()
        other_context.close()
        server.terminate()
        server.wait(60)
