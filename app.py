"""CLReg Lab: the Gradio app. Layout and event wiring only; everything that computes lives in
`clreg_core` (this file imports no torch, transformers or peft).

    python app.py            # serves on http://127.0.0.1:7860

Each browser tab gets a `clreg_core.app.session.Session`. The Run handler follows its run to the
end itself, feeding the run's state from the plain messages of the work (`work_on_gpu` below, or
in this process for the embedded model); a `gr.Timer` redraws what changed. On a ZeroGPU Space
the work runs in a forked worker that holds a GPU.
"""

from __future__ import annotations

# spaces must be imported before anything that could set CUDA up (it patches torch): on a
# ZeroGPU Space it is installed and SPACES_ZERO_GPU is set; elsewhere its decorator changes
# nothing, and without the package the decorator is the identity below.
try:
    import spaces
except ImportError:
    spaces = None

import contextlib
import functools
import html
import inspect
import json
import logging
import math
from datetime import timedelta

import gradio as gr

from clreg_core.app import explore, figures
from clreg_core.app.attempts import EXPORT_ROOT
from clreg_core.app.hosting import Hosting, embedded_work, run_note
from clreg_core.app.limits import ASKS, Watch, caller_address, queue_size
from clreg_core.app.method_notes import method_note
from clreg_core.app.page import shown_runs
from clreg_core.app.restarts import Interrupted, browser_secret, new_page_key, valid_page_key
from clreg_core.app.run_export import mark_interrupted
from clreg_core.app.run_tables import (
    RUNS_HEADERS,
    generations_table,
    metrics_table,
    run_choice_labels,
    runs_list,
)
from clreg_core.app.session import SESSIONS, warm_up
from clreg_core.app.tour import TOUR_TARGETS, tour_steps
from clreg_core.app.ui_choices import (
    ADVANCED_FIELDS,
    METHOD_CHOICES,
    STOP_AT_CHOICES,
    STOP_AT_INFO,
    UPLOAD_CLEANUP,
    UPLOAD_LIMIT_BYTES,
    advanced_defaults,
    chosen_model,
    config_from_form,
    default_config_value,
    model_choices,
    own_text,
    run_choices,
)
from clreg_core.app.worker import WorkOrder, carry_out
from clreg_core.errors import GpuUnavailableError, UserInputError

ZERO_GPU = spaces is not None and spaces.config.Config.zero_gpu


def gpu_seconds(order: WorkOrder) -> float:
    """The GPU time a call asks ZeroGPU for: what the session worked out for the order."""
    return order.gpu_seconds


def _work_on_gpu(order: WorkOrder):
    """The part of a run that needs a GPU (every model but the embedded one): on a ZeroGPU
    Space it runs in a forked worker holding a GPU; the order arrives pickled and only the
    yielded messages come back. Elsewhere it runs here, as it is."""
    yield from carry_out(order)


# Decorated at import: ZeroGPU looks for its functions when the app launches (without one it
# stops the Space: "No @spaces.GPU function detected during startup").
if spaces is not None:
    _work_on_gpu = spaces.GPU(duration=gpu_seconds)(_work_on_gpu)


def work_on_gpu(order: WorkOrder):
    """`_work_on_gpu`, with ZeroGPU's refusals (a visitor's quota used up, no GPU free) said as
    what to try instead."""
    try:
        yield from _work_on_gpu(order)
    except gr.Error as refused:
        title = getattr(refused, "title", "") or "ZeroGPU"
        raise GpuUnavailableError(
            f"the GPU could not take this run ({title}: {refused.message}). Try the embedded "
            "model (it trains on this Space's CPU and uses no GPU quota), a shorter run (fewer "
            "steps or smaller evaluation sizes ask for less GPU time), or try again later."
        ) from None


def charged_seconds(seconds: float) -> float:
    """What ZeroGPU counts against a visitor's quota for asking `seconds` (more on some GPUs:
    1.5x on Blackwell); as asked where it cannot tell."""
    try:
        from spaces.zero.client import get_duration_seconds

        return float(get_duration_seconds(timedelta(seconds=seconds), None))
    except Exception:
        return seconds


if ZERO_GPU:
    SESSIONS.hosting = Hosting(gpu_work=work_on_gpu, zero_gpu=True, charged=charged_seconds)
else:
    SESSIONS.hosting = Hosting(gpu_work=work_on_gpu)

DEFAULT_MODEL = "embedded"
TICK_S = 1.0
RUN_HANDLERS = 10  # Run/A-B handlers at once: the runs training, and those waiting in line
INTRO = """# CLReg Lab
Make a language model forget, and watch what happens inside it. Pick a model and a topic to
forget, press **Run** (or **A/B** to compare the method with and without the CLReg contrastive
regularizer), and see the forget (red) and retain (blue) representations move while it trains.
By default training stops at *parity*: when the forget people (or a pack's forget items) look like
ones the model never saw.
"""
SESSION_LOST = (
    "This page lost its run: the server restarted (or the page was idle for an hour). Your "
    "settings are still in the form: press Run to start again."
)
TOUR_JS = """() => {{
  const ids = {ids};
  document.querySelectorAll('.tour-highlight').forEach(e => e.classList.remove('tour-highlight'));
  const shown = ids.map(id => document.getElementById(id)).filter(e => e);
  shown.forEach(e => e.classList.add('tour-highlight'));
  if (shown.length) shown[0].scrollIntoView({{behavior: 'smooth', block: 'center'}});
}}"""
CSS = """
.tour-highlight {outline: 3px solid #f59e0b; outline-offset: 3px; border-radius: 6px}
#progress .track {height: 10px; background: #eee; border-radius: 5px; overflow: hidden}
#progress .fill {height: 100%; background: #6366f1; transition: width .4s}
#progress p {margin: 4px 0 0 0}
"""


LOG = logging.getLogger("clreg_lab")
# Empty tables show these before a run (not Gradio's "1 2 3").
METRICS_HEADERS = ["metric", "before", "after", "good when", "what it means"]
GENERATIONS_HEADERS = ["set", "prompt", "expected", "before", "after"]
PROBE_HEADERS = ["set", "question", "expected", "model's answer", "right?"]
ANSWER_HEADERS = ["model", "answer"]
PAGE_PARTS = 17  # what a tick may redraw: the `page` outputs in build_demo
BUTTONS = slice(14, 17)  # Run, A/B and Check: off while an attempt of this page goes on
TALL_TABLE_PX = 2000  # every row in sight: a short scroll box hid the retain rows


def npo_start(model: str) -> str:
    """Where NPO's term starts for a model's default β (the model is still its reference)."""
    beta = default_config_value(model, "npo_beta")
    return f"≈ {2 / beta * math.log(2):.1f} at β = {beta:g} for {model}"


PLOT_GUIDE = """
- **Representations (live)**: each dot is one question's hidden state at the CLReg layer, red for
  what the model should forget, blue for what it should keep, projected on two fixed axes (a
  PCA of the *original* model's points). Fixed axes make motion on screen motion in the model,
  but they are one linear view: forget and retain can pull apart along directions these two axes
  do not show, so the dots may look mixed while the entanglement score falls.
- **End view** (after the run): each panel is embedded afresh (t-SNE or UMAP) from all the
  features, which shows clumps and separation that a fixed projection hides, but its axes mean
  nothing and the panels cannot be compared point by point.
- **Entanglement** (curves): how mixed red and blue are (spread within each set over the distance
  between them; lower = apart). The live curve measures a small fixed subset at every check; the
  table below measures more items once before and once after (the open diamonds), and the score
  depends on how many items it averages over, so the two start at different heights. Compare
  each with itself.
- **Parity AUC**: can a loss threshold tell the forget questions from ones the model never
  learned? 0.5 (inside the green band) = no: the model treats them like strangers. Far below
  0.5 = over-unlearned: the forget people now look *stranger* than strangers.
- **Distance to parity** (topic packs, in place of the AUC): a pack's never-learned answers are
  worded unlike its forget answers, so their likelihoods do not compare; parity is judged on
  forget answers right against the never-learned level, answers that loop or are not
  well-formed, and retain kept. 1 = the band's edge; training stops at or below it.
- **Loss terms**: the retain loss is summed over each answer's tokens, so it jumps with the
  length of the batch's answers (on SmolLM2's full-sentence answers, between about 10 and 60
  from one batch to the next, the total up to ~80) without anything going wrong; NPO's term
  starts at 2/β · ln 2 ({npo_starts}) and falls as the forget answers become unlikely. Watch
  trends, not levels.
"""


def user_errors(handler):
    """Show a user's mistake as a message in the page; the inputs stay as they were.

    Messages are escaped: they may quote what the user typed (a model id, a file name), which
    must show as text, never as HTML. Any other exception is a bug: its traceback goes to the
    server log, and the page gets a plain message instead of Gradio's blank "Error"."""

    def shown(error: Exception) -> gr.Error:
        if isinstance(error, UserInputError):
            return gr.Error(html.escape(str(error), quote=False), print_exception=False)
        LOG.exception("handler %s failed", handler.__name__)
        return gr.Error(
            html.escape(
                f"something went wrong on the server ({type(error).__name__}); it is logged "
                "there. Your settings are unchanged: try again, or change a setting."
            ),
            print_exception=False,
        )

    if inspect.isgeneratorfunction(handler):  # Gradio streams a generator only if it is one

        @functools.wraps(handler)
        def streamed(*args, **kwargs):
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as error:
                raise shown(error) from None

        return streamed

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as error:
            raise shown(error) from None

    return wrapped


def progress_html(fraction: float, text: str) -> str:
    width = round(100 * fraction)
    return (
        f"<div class='track'><div class='fill' style='width:{width}%'></div></div>"
        f"<p>{html.escape(text)}</p>"
    )


@user_errors
def on_model_change(picked: str, typed: str, method: str, clreg: bool):
    model = chosen_model(picked, typed)
    choices, default = run_choices(model)
    weight = default_config_value(model, "clreg_weight")
    note = run_note(SESSIONS.hosting, model)
    return [
        gr.Dropdown(choices=choices, value=default),
        weight,
        *advanced_defaults(model, method, clreg),
        note,
        method_note(model, method, clreg),
    ]


@user_errors
def on_method_change(picked: str, typed: str, method: str, clreg: bool):
    """A method's own settings for this model (METHOD_DEFAULTS) go into the advanced panel, and
    the note under the method says what they were measured to do."""
    model = chosen_model(picked, typed)
    return [*advanced_defaults(model, method, clreg), method_note(model, method, clreg)]


def on_task_change(task: str):
    return gr.Group(visible=task == "custom")


def on_tour_change(picked: str, typed: str, task: str):
    """The tour's steps in the chosen topic's words (a typed model that is refused is said by
    the other handlers of this change; the tour then speaks of the picked one)."""
    try:
        model = chosen_model(picked, typed)
    except UserInputError:
        model = picked
    return tour_steps(model, task)


def on_suggestions(picked: str, typed: str, task: str):
    """What the chosen model can be asked, and questions that suit it and the topic."""
    model = chosen_model(picked, typed)
    questions = explore.suggested_questions(model, task)
    return explore.model_hint(model), gr.Dropdown(choices=questions, value=None)


def run_handler(ab: bool):
    """The Run (ab=False) or A/B (ab=True) handler: it sets the run up and follows it to the end.

    Its first answer comes at once (the timer on, "starting…"), its last one at the end (the
    whole page); the timer draws in between. Gradio closing it (Stop cancels the event, or the
    tab closed) stops the work within a step."""

    @user_errors
    def start(request: gr.Request, *form):
        picked, typed, task, method, clreg, weight, text, upload, *rest = form
        # The stop rule and the relearning check come last, so API callers that predate them
        # keep working.
        advanced, extra = rest[: len(ADVANCED_FIELDS)], rest[len(ADVANCED_FIELDS) :]
        model = chosen_model(picked, typed)
        config = config_from_form(model, task, method, clreg, weight, advanced, *extra)
        session = SESSIONS.get(request.session_hash)
        if config.task == "custom" and upload:
            session.check_upload(upload)
        custom = own_text(config, text, upload)
        caller = caller_of(request)
        SESSIONS.check_caller(caller, request.session_hash)
        session.start(config, custom, ab=ab, caller=caller)
        yield from follow_attempt(session, request)

    return start


def follow_attempt(session, request: gr.Request):
    """The body of the Run, A/B and Check handlers once the session set its attempt up.

    The page's timer draws the attempt as it goes (full values, a tick a second). The handler
    answers only at the start and the end: Gradio streams a generator's answers as differences
    from its previous answer, and drawn from here the live plots lost updates in the browser
    (the step-0 points under load). Its empty answers in between let Gradio close it (Stop, a
    closed tab) between two of the work's messages."""
    watch = Watch(lambda: unread_answers(request), lambda: session.last_used)
    with contextlib.closing(session.follow()) as following:
        for number, _ in enumerate(following):
            if watch.gone():  # a bare API call nobody follows: free its place in line
                session.stop(by=f"because nobody followed it for {watch.limit_s:.0f} s")
            if number == 0:
                first = [gr.skip()] * PAGE_PARTS
                first[0], first[13] = progress_html(*session.progress()), gr.Timer(active=True)
                first[BUTTONS] = button_updates(session)
                yield first
            else:
                yield [gr.skip()] * PAGE_PARTS
    yield page_updates(session, whole=True)


@user_errors
def on_check(request: gr.Request):
    """Gone or only hidden? The relearning check of this page's last finished run(s), after
    the fact: their kept LoRA weights are attacked, in the same line as runs."""
    session = SESSIONS.get(request.session_hash)
    caller = caller_of(request)
    SESSIONS.check_caller(caller, request.session_hash)
    session.start_check(caller)
    yield from follow_attempt(session, request)


@user_errors
def on_stop(request: gr.Request):
    """Stop this page's run; the timer shows the stopped run's end (its downloads)."""
    session = SESSIONS.get(request.session_hash)
    if session.stop() == "nothing is running":  # Stop before Run, or a second time
        gr.Info("Nothing is running: Stop ends a run that Run or A/B started.")
        return progress_html(*session.progress()), gr.skip(), *button_updates(session, True)
    # Run, A/B and Check come back on here: the stopped Run event never sends its last answer.
    return progress_html(*session.progress()), gr.Timer(active=True), *button_updates(session, True)


def page_updates(session, whole: bool = False) -> list:
    """The parts of the page that changed since they were last sent (the rest skipped), in the
    order of the `page` outputs wired in `build_demo`, the timer on while the attempt lasts; or,
    with `whole`, every part (the timer left to stop itself at its next tick)."""
    if whole:
        # The Run handler's last answer: all of the run's end, for API callers too. It leaves
        # the record of what was sent alone: after a Stop, Gradio drops this answer (the event
        # is cancelled) and the timer must still find the end to draw.
        changed = {}
        for part in ("progress", "scatter", "curves", "final"):
            changed.update(session.render(part))
    else:
        changed = session.changes()
    out = [gr.skip()] * PAGE_PARTS
    if "progress" in changed:
        out[0] = progress_html(*changed["progress"])
    if "scatter" in changed:
        out[1] = changed["scatter"]
    if "curves" in changed:
        out[2] = changed["curves"]
    if "metrics" in changed:
        for index, part in ((3, "paper"), (4, "layers"), (12, "relearning")):
            figure = changed[part]
            out[index] = gr.Plot(value=figure, visible=figure is not None)
        out[5] = metrics_frame(changed["metrics"], changed["shows"])
        out[6] = changed["note"]
        out[7] = generations_frame(changed["generations"], changed["shows"])
        out[8] = changed["exports"] or None
        out[9] = changed["commands"]
        history = session.run_history()
        out[10] = gr.Dataframe(value=runs_list(history), headers=RUNS_HEADERS)
        out[11] = gr.Dropdown(choices=run_choice_labels(history))
    attempt = session.attempt
    if not whole:
        out[13] = gr.Timer(active=attempt is not None and not attempt.over)
    # The last answers of an attempt always say where the buttons stand: a cancelled Run event
    # (Stop) may leave the browser's copy behind the record of what was sent.
    out[BUTTONS] = button_updates(session, force=whole or (attempt is not None and attempt.over))
    return out


def button_updates(session, force: bool = False) -> list:
    """Run, A/B and Check: off while this page's attempt goes on (a second press could only be
    refused), on again when it ends or is stopped; sent only when that changes."""
    busy = session.attempt is not None and session.attempt.active
    if not force and session.page.rendered.get("buttons") == busy:
        return [gr.skip()] * 3
    session.page.rendered["buttons"] = busy
    return [gr.Button(interactive=not busy) for _ in range(3)]


def titled(title: str, shows: str) -> str:
    return f"{title}: {shows}" if shows else title


def metrics_frame(
    table: tuple[list[str], list[list[str]]],
    shows: str = "",
    title: str = "Metrics before and after",
) -> gr.Dataframe:
    """The metrics table's update, from `metrics_table`'s (headers, rows), its title naming
    the runs it shows (`page.shown_runs`)."""
    headers, rows = table
    return gr.Dataframe(
        value=rows,
        headers=headers,
        column_widths=metric_widths(headers),
        label=titled(title, shows),
    )


def generations_frame(
    table: tuple[list[str], list[list[str]]],
    shows: str = "",
    title: str = "Probe prompts: answers before and after",
) -> gr.Dataframe:
    """The probe answers' update, from `generations_table`'s (headers, rows)."""
    headers, rows = table
    return gr.Dataframe(
        value=rows,
        headers=headers,
        column_widths=shared_widths(headers),
        label=titled(title, shows),
    )


def tall_table(headers: list[str], elem_id: str, **extra) -> gr.Dataframe:
    """A table that wraps long text and shows every row (a short scroll box hid rows)."""
    return gr.Dataframe(
        headers=headers, wrap=True, max_height=TALL_TABLE_PX, elem_id=elem_id, **extra
    )


def metric_widths(headers: list[str]) -> list[str]:
    """The metric's name, narrow number columns, then room for which way is good and what it
    means: sized by content, those two columns pushed the table to twice the page's width."""
    numbers = len(headers) - 3
    number = min(12.0, 40.0 / numbers)
    rest = 100 - 16 - number * numbers
    return ["16%", *[f"{number:.1f}%"] * numbers, f"{rest * 0.4:.1f}%", f"{rest * 0.6:.1f}%"]


def shared_widths(headers: list[str]) -> list[str]:
    """A narrow first column (forget/retain) and equal shares for the rest, so that long
    prompts wrap instead of pushing the answers out of sight."""
    rest = 94 / (len(headers) - 1)
    return ["6%", *[f"{rest:.1f}%"] * (len(headers) - 1)]


@user_errors
def on_tick(request: gr.Request):
    """Redraw what changed since the last tick; stop ticking once the attempt is over.

    The timer ticks only while a run of this page lasts, so a tick that finds no run means the
    server restarted (or the page sat idle past its session): say so instead of freezing."""
    session = SESSIONS.get(request.session_hash)
    if session.attempt is None:
        lost = [gr.skip()] * PAGE_PARTS
        lost[0], lost[13] = progress_html(0.0, SESSION_LOST), gr.Timer(active=False)
        lost[BUTTONS] = [gr.Button(interactive=True) for _ in range(3)]
        return lost
    return page_updates(session)


def unread_answers(request: gr.Request) -> int | None:
    """How many of this session's answers wait unread on its event stream; None where Gradio
    does not say. Gradio stops a run whose stream closes, but a bare POST of /call/run opens
    none, so only the pile-up of its answers tells that nobody follows it. This reads Gradio's
    own queue (no public API says it), so any change there counts as "watched", never stops."""
    try:
        queue = request.request.app.get_blocks()._queue
        pending = queue.pending_messages_per_session.get(request.session_hash)
        return None if pending is None else int(pending.qsize())
    except Exception:
        return None


def caller_of(request: gr.Request) -> str:
    """The caller's address (behind a proxy such as a Space's, from X-Forwarded-For)."""
    headers = getattr(request, "headers", None) or {}
    client = getattr(request, "client", None)
    return caller_address(dict(headers), getattr(client, "host", None))


@user_errors
def on_ask(picked: str, typed: str, question: str, task: str, request: gr.Request):
    ASKS.check(caller_of(request), "questions")
    session = SESSIONS.get(request.session_hash)
    model = chosen_model(picked, typed)
    rows = session.ask(model, question, task)
    return gr.Dataframe(value=rows, headers=ANSWER_HEADERS, label=answers_label(model, task))


def answers_label(model: str, task: str) -> str:
    return f"Answers of {model} on {task}: the original, this tab's runs of it, its gold twin"


def probe_label(model: str, task: str) -> str:
    return f"What {model} knows about {task} (its original weights)"


def on_view_change(picked: str, typed: str, task: str):
    """Another model or topic: the answer tables held the previous one's answers, which a class
    would take for the new one's. They are cleared, and their titles name what they will show."""
    try:
        model = chosen_model(picked, typed)
    except UserInputError:  # said by the model's own handler; clear the tables all the same
        model = (typed or picked or "").strip()
    return (
        gr.Dataframe(value=[], headers=PROBE_HEADERS, label=probe_label(model, task)),
        gr.Dataframe(value=[], headers=ANSWER_HEADERS, label=answers_label(model, task)),
    )


@user_errors
def on_probe(picked: str, typed: str, task: str, request: gr.Request):
    ASKS.check(caller_of(request), "questions")
    if task == "custom":
        raise UserInputError("probing needs a built-in topic; your own text has no questions")
    model = chosen_model(picked, typed)
    rows = explore.probe_task(model, task)
    mark = {True: "✔", False: "✘"}
    cells = [
        [r["set"], r["question"], r["expected"], r["answer"], mark[r["correct"]]] for r in rows
    ]
    return gr.Dataframe(value=cells, headers=PROBE_HEADERS, label=probe_label(model, task))


@user_errors
def on_show_runs(picked: list[str] | None, request: gr.Request):
    """Reopen one earlier run of this tab, or two side by side: their curves, per-layer
    entanglement, metrics and probe answers, drawn from what the runs left (nothing reruns)."""
    if not picked:
        raise UserInputError("pick one run (to reopen it) or two (to compare them) first")
    if not all(str(number).isdigit() for number in picked):
        raise UserInputError(f"pick runs from the list (got {picked!r})")
    session = SESSIONS.get(request.session_hash)
    runs = session.picked_runs([int(number) for number in picked])
    layers = figures.layer_entanglement(runs)
    return [
        gr.Plot(value=figures.live_curves(runs), visible=True),
        gr.Plot(value=layers, visible=layers is not None),
        metrics_frame(
            metrics_table(runs),
            shown_runs(runs),
            "Metrics of the picked runs ('before' is the first picked run's)",
        ),
        generations_frame(
            generations_table(runs), shown_runs(runs), "Probe answers of the picked runs"
        ),
    ]


@user_errors
def on_upload(path: str | None, request: gr.Request) -> None:
    """Note a file this page uploaded: a Run may use only such files (`Session.check_upload`)."""
    if path:
        SESSIONS.get(request.session_hash).keep_upload(path)


@user_errors
def on_status(request: gr.Request) -> dict:
    return SESSIONS.get(request.session_hash).summary()


@user_errors
def on_load(stored_key, request: gr.Request):
    """A page opened (or reloaded, as it does when the server comes back): give it its browser's
    key, and tell it about runs a restart interrupted, with its own ones' reports."""
    session = SESSIONS.get(request.session_hash)
    session.page_key = stored_key if valid_page_key(stored_key) else new_page_key()
    notice = SESSIONS.interrupted.notice(session.page_key)
    reports = SESSIONS.interrupted.reports_for(session.page_key)
    return [
        session.page_key,
        progress_html(0.0, notice) if notice else gr.skip(),
        [str(report) for report in reports] if reports else gr.skip(),
    ]


def on_unload(request: gr.Request) -> None:
    SESSIONS.drop(request.session_hash)


def build_demo() -> gr.Blocks:
    first_tasks, first_task = run_choices(DEFAULT_MODEL)
    with gr.Blocks(title="CLReg Lab", delete_cache=UPLOAD_CLEANUP) as demo:
        gr.Markdown(INTRO)
        with gr.Accordion("Guided tour: five steps a class can follow", open=False,
                          elem_id="tour"):  # fmt: skip
            tour = []  # each step's text, in the chosen topic's words (tour_steps)
            steps = zip(tour_steps(DEFAULT_MODEL, first_task), TOUR_TARGETS, strict=True)
            for number, (text, targets) in enumerate(steps, start=1):
                with gr.Row(equal_height=True):
                    tour.append(gr.Markdown(text, elem_id=f"tour-text-{number}"))
                    show = gr.Button("Show me", size="sm", scale=0, elem_id=f"tour-{number}")
                show.click(None, None, None, js=TOUR_JS.format(ids=json.dumps(list(targets))))
        with gr.Row():
            model = gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="Model")
            typed_model = gr.Textbox(label="…or a local folder / hub id", placeholder="optional")
            task = gr.Dropdown(first_tasks, value=first_task, label="Forget topic")
        with gr.Group(visible=False) as custom_group:
            custom_text = gr.Textbox(
                label="Your text to forget (plain text, or JSONL question/answer lines)", lines=5
            )
            custom_file = gr.File(
                label="…or upload a .txt / .jsonl file", file_types=[".txt", ".jsonl", ".md"]
            )
        with gr.Row():
            method = gr.Dropdown(METHOD_CHOICES, value="npo", label="Base method")
            clreg = gr.Checkbox(value=True, label="CLReg (contrastive regularizer)")
            clreg_weight = gr.Number(
                value=default_config_value(DEFAULT_MODEL, "clreg_weight"),
                label="λ (CLReg weight)",
                minimum=0,
            )
        method_info = gr.Markdown(method_note(DEFAULT_MODEL, "npo", True), elem_id="method-note")
        stop_at = gr.Radio(
            STOP_AT_CHOICES,
            value=default_config_value(DEFAULT_MODEL, "stop_at"),
            label="Stop at",
            info=STOP_AT_INFO,
            elem_id="stop-at",
        )
        relearn_check = gr.Checkbox(
            value=False,
            label="Gone or only hidden? After the run, try to bring the facts back (relearning "
            "check: an attacker fine-tunes on half the forget facts; about 20 s more on the "
            "embedded model)",
            elem_id="relearn-check",
        )
        with gr.Accordion("Advanced settings", open=False), gr.Row():
            advanced = [
                gr.Number(value=v, label=label, elem_id=f"adv-{name}")
                for (name, label, _), v in zip(
                    ADVANCED_FIELDS, advanced_defaults(DEFAULT_MODEL), strict=True
                )
            ]
        with gr.Accordion("Before you run: what does the model know about this topic?", open=False):
            probe = gr.Button("Ask the model about this topic", elem_id="probe")
            probe_table = tall_table(
                PROBE_HEADERS, "probe-table", column_widths=["8%", "27%", "20%", "37%", "8%"],
                label=probe_label(DEFAULT_MODEL, first_task),
            )  # fmt: skip
        with gr.Row():
            run = gr.Button("Run", variant="primary", elem_id="run")
            ab = gr.Button("A/B: method alone vs method + CLReg", elem_id="ab")
            check = gr.Button("Gone or only hidden? Check the last run", elem_id="check")
            stop = gr.Button("Stop", variant="stop", elem_id="stop")
        gpu_note = gr.Markdown(run_note(SESSIONS.hosting, DEFAULT_MODEL), elem_id="gpu-note")
        progress = gr.HTML(progress_html(0.0, "Pick a model and a topic, then press Run."),
                           elem_id="progress")  # fmt: skip
        with gr.Row():
            # Placeholders drawn at page load: the browser fetches and starts plotly.js then,
            # not after Run, which brings the first live points in ~1 s sooner.
            scatter = gr.Plot(figures.live_scatter([]), label="Representations", elem_id="scatter")
            curves = gr.Plot(figures.live_curves([]), label="Curves", elem_id="curves")
        paper = gr.Plot(label="End view", visible=False, elem_id="paper")
        layers = gr.Plot(label="Entanglement per layer", visible=False, elem_id="layers")
        relearning = gr.Plot(label="Gone or only hidden? (relearning check)", visible=False,
                             elem_id="relearning")  # fmt: skip
        with gr.Accordion("How to read these plots", open=False, elem_id="plot-guide"):
            gr.Markdown(
                PLOT_GUIDE.format(
                    npo_starts=", ".join(npo_start(m) for m in ("embedded", "smollm2-135m"))
                )
            )
        metrics = tall_table(
            METRICS_HEADERS,
            "metrics",
            label="Metrics before and after",
            column_widths=metric_widths(METRICS_HEADERS),
        )
        note = gr.Markdown()
        generations = tall_table(
            GENERATIONS_HEADERS, "generations", label="Probe prompts: answers before and after"
        )
        with gr.Row():
            question = gr.Textbox(label="Ask both models (original and unlearned)", scale=4)
            ask = gr.Button("Ask", scale=1, elem_id="ask")
        ask_hint = gr.Markdown(explore.model_hint(DEFAULT_MODEL), elem_id="ask-hint")
        suggested = gr.Dropdown(
            explore.suggested_questions(DEFAULT_MODEL, first_task),
            value=None,
            label="Suggested questions for this model and topic (pick one to fill the box)",
            elem_id="suggested",
        )
        # The embedded model answers through its gold twin too (retrained without forget10).
        answers = tall_table(
            ANSWER_HEADERS, "answers", column_widths=["22%", "78%"],
            label=answers_label(DEFAULT_MODEL, first_task),
        )  # fmt: skip
        with gr.Accordion("Export: report, adapter, plots, CLI command", open=False):
            exports = gr.File(
                label="Downloads", file_count="multiple", interactive=False, elem_id="exports"
            )
            commands = gr.Code(label="Reproduce from the command line", language="shell")
        with gr.Accordion("Runs in this tab: reopen one, or compare two", open=False,
                          elem_id="runs"):  # fmt: skip
            # Sized, not by content: the stop reasons pushed the last columns out of sight
            # and broke "entanglement" in two at 1440 px.
            runs_table = tall_table(
                RUNS_HEADERS, "runs-table",
                column_widths=["4%", "11%", "11%", "12%", "22%", "9%", "9%", "11%", "11%"],
            )  # fmt: skip
            with gr.Row():
                runs_pick = gr.Dropdown(
                    [],
                    multiselect=True,
                    max_choices=2,
                    label="Pick one run to reopen, or two to compare side by side",
                    elem_id="runs-pick",
                    scale=4,
                )
                runs_show = gr.Button("Show", scale=1, elem_id="runs-show")
            runs_curves = gr.Plot(label="Curves of the picked runs", visible=False,
                                  elem_id="runs-curves")  # fmt: skip
            runs_layers = gr.Plot(label="Entanglement per layer", visible=False,
                                  elem_id="runs-layers")  # fmt: skip
            runs_metrics = tall_table(
                METRICS_HEADERS,
                "runs-metrics",
                label="Metrics of the picked runs ('before' is the first picked run's)",
            )
            runs_generations = tall_table(
                GENERATIONS_HEADERS, "runs-generations", label="Probe answers of the picked runs"
            )
        status = gr.JSON(visible=False)
        status_button = gr.Button(visible=False)
        timer = gr.Timer(TICK_S, active=False)

        form = [model, typed_model, task, method, clreg, clreg_weight, custom_text, custom_file]
        model_defaults = [task, clreg_weight, *advanced, gpu_note, method_info]
        model.change(on_model_change, [model, typed_model, method, clreg], model_defaults)
        typed_model.submit(on_model_change, [model, typed_model, method, clreg], model_defaults)
        for control in (method, clreg):
            control.input(
                on_method_change,
                [model, typed_model, method, clreg],
                [*advanced, method_info],
                api_name=False,
            )
        task.change(on_task_change, task, custom_group)
        # Outside the queue, so the upload is noted before a Run pressed right after it.
        custom_file.upload(on_upload, custom_file, None, api_name="attach", queue=False)
        # After the task has its new value (a model change sets the task too).
        for trigger in (model.change, task.change, typed_model.submit):
            trigger(on_suggestions, [model, typed_model, task], [ask_hint, suggested])
            trigger(on_tour_change, [model, typed_model, task], tour, api_name=False)
            trigger(on_view_change, [model, typed_model, task], [probe_table, answers],
                    api_name=False)  # fmt: skip
        suggested.input(explore.question_from_suggestion, suggested, question, api_name=False)
        page = [progress, scatter, curves, paper, layers, metrics, note, generations, exports,
                commands, runs_table, runs_pick, relearning, timer, run, ab, check]  # fmt: skip
        assert len(page) == PAGE_PARTS
        # Our own progress line says what is happening; Gradio's per-output spinners would
        # only cost the browser CPU that the first plot needs.
        # A run's handler lasts as long as the run. Waiting ones hold a server thread each,
        # so at most RUN_HANDLERS follow runs (training or waiting in line) at once.
        run_events = [
            button.click(
                run_handler(ab=ab_mode),
                [*form, *advanced, stop_at, relearn_check],
                page,
                api_name="ab" if ab_mode else "run",
                show_progress="hidden",
                concurrency_limit=RUN_HANDLERS,
                concurrency_id="runs",
            )
            for button, ab_mode in ((run, False), (ab, True))
        ]
        run_events.append(
            check.click(
                on_check,
                None,
                page,
                api_name="check",
                show_progress="hidden",
                concurrency_limit=RUN_HANDLERS,
                concurrency_id="runs",
            )
        )
        # Cheap calls never wait behind slow ones: the progress tick and the status call skip
        # the queue (a plain HTTP request: ~40 ms of queue bookkeeping less per call, which
        # under 20 clients made status p95 ~1 s), and Stop has no concurrency limit (it stays
        # queued, since its "nothing is running" pop-up needs the queue's event stream). The
        # calls that run a model (free questions, probes) share two slots, so under load they
        # queue, with their place shown, instead of taking the CPU from the run and each other.
        # Stop marks the run stopped at once, and cancels the Run event: its handler closes
        # the work, which ends within a step (on ZeroGPU, freeing the GPU).
        stop.click(
            on_stop,
            None,
            [progress, timer, run, ab, check],
            api_name="stop",
            concurrency_limit=None,
            cancels=run_events,
        )
        timer.tick(
            on_tick,
            None,
            page,
            show_progress="hidden",
            queue=False,
            api_visibility="private",
        )
        asking = [model, typed_model, question, task]
        model_calls = {"concurrency_limit": 2, "concurrency_id": "model-calls"}
        ask.click(on_ask, asking, answers, api_name="ask", **model_calls)
        question.submit(on_ask, asking, answers, api_name=False, **model_calls)
        probe.click(
            on_probe, [model, typed_model, task], probe_table, api_name="probe", **model_calls
        )
        status_button.click(on_status, None, status, api_name="status", queue=False)
        runs_show.click(
            on_show_runs,
            runs_pick,
            [runs_curves, runs_layers, runs_metrics, runs_generations],
            api_name="show_runs",
        )
        # Kept in the browser across reloads (a restarted server reloads the page): the key
        # that finds this browser's interrupted runs. Not part of the API.
        page_key = gr.BrowserState(
            None, storage_key="clreg-lab-page", secret=browser_secret(EXPORT_ROOT.parent)
        )
        demo.load(on_load, page_key, [page_key, progress, exports], api_visibility="private")
        demo.unload(on_unload)
    return demo


def launch(port: int | None = None, quiet: bool = False) -> gr.Blocks:
    """Serve the app without blocking (the tests and benchmarks call this too).

    The engine (torch, transformers, peft, the embedded model) is imported while the page is
    built, before serving: startup takes ~4 s longer but the first Run draws within ~1-2 s
    instead of paying for the imports."""
    warming = warm_up()
    embedded_work(ZERO_GPU)  # where it is one, the run's fork server starts importing now
    interrupted = mark_interrupted(EXPORT_ROOT)  # runs a killed server left half done
    for report in interrupted:
        LOG.warning("marked an interrupted run: %s", report)
    SESSIONS.interrupted = Interrupted.from_reports(interrupted)
    demo = build_demo()
    warming.join()
    demo.queue(default_concurrency_limit=4, max_size=queue_size()).launch(
        server_port=port,
        allowed_paths=[str(EXPORT_ROOT)],
        max_file_size=UPLOAD_LIMIT_BYTES,  # refused at the server, before it is stored
        # Gradio's own refusals of a value before our handlers see it (a list sent for a number,
        # an upload field naming a server path) said in its words, not as an empty error. Our
        # handlers' errors are our messages either way (`user_errors`).
        show_error=True,
        prevent_thread_lock=True,
        css=CSS,
        quiet=quiet,
    )
    return demo


if __name__ == "__main__":
    launch().block_thread()
