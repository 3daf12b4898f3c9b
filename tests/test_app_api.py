"""The app's API through gradio_client, against the demo served in this process on a free port."""

import json
import socket
import time
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

import app
from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def url():
    port = free_port()
    demo = app.launch(port=port, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def form(model="embedded", typed="", task="world:forget10", text="", stop_at="parity", **advanced):
    values = dict(
        zip([n for n, _, _ in ADVANCED_FIELDS], advanced_defaults("embedded"), strict=True)
    )
    values.update(advanced)
    return [model, typed, task, "npo", True, 1.0, text, None, *values.values(), stop_at]


SMALL = dict(steps=6, eval_every=2, final_eval_items=16)


def wait_over(client, timeout=600.0) -> dict:  # a bound for a busy machine, not a target
    deadline = time.monotonic() + timeout
    while True:
        status = client.predict(api_name="/status")
        if status["over"]:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.3)


def test_run_status_and_ask_through_the_api(url):
    client = Client(url, verbose=False)
    # The Run handler follows its run to the end, answering as it goes.
    job = client.submit(*form(stop_at="steps", **SMALL), api_name="/run")
    deadline = time.monotonic() + 600  # a bound for a busy machine, not a target
    while not client.predict(api_name="/status")["runs"]:
        assert time.monotonic() < deadline and not job.done(), job.status()
        time.sleep(0.1)
    with pytest.raises(AppError, match="already going"):  # one job per session
        client.predict(*form(**SMALL), api_name="/run")
    last = job.result(timeout=600)
    assert "finished" in last[0] and "step 6/6" in last[0], last[0]
    # Its last answer is the whole end of the run: the live plot at the last step...
    titles = [a["text"] for a in json.loads(last[1]["plot"])["layout"]["annotations"]]
    assert titles == ["NPO + CLReg<br>step 6/6"]
    status = wait_over(client)
    (run,) = status["runs"]
    assert run["status"] == "finished" and run["step"] == 6 and run["evaluations"] == 4
    assert 0.0 <= run["metrics"]["forget_accuracy"] <= 1.0
    assert run["parity"]["rule"] == "steps" and run["parity"]["stopped_because"] == "all steps done"
    answers = client.predict("embedded", "", "Where was Riaisuv Fivane born?", api_name="/ask")
    rows = answers["value"]["data"]
    assert [r[0] for r in rows] == [
        "original", "after NPO + CLReg", "gold model (never saw the forget set)"
    ]  # fmt: skip
    assert "Lanterne" in rows[0][1]
    other = Client(url, verbose=False)  # another browser session has its own state
    assert other.predict(api_name="/status")["runs"] == []


def test_user_mistakes_get_clear_messages_and_the_app_keeps_serving(url, monkeypatch):
    client = Client(url, verbose=False)
    mistakes = [
        (form(typed="no such model!", **SMALL), "unknown model 'no such model!'"),
        (form(task="custom", text="   ", **SMALL), "The text is empty"),
        (form(steps=0), "steps=0 is out of range"),
        (form(steps=2.5), "whole number"),
        (form(temperature=None), "empty"),
    ]
    for inputs, message in mistakes:
        with pytest.raises(AppError, match=message):
            client.predict(*inputs, api_name="/run")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the server runs in this process
    with pytest.raises(AppError, match="offline mode is set"):
        client.predict(*form(typed="someone/some-model", **SMALL), api_name="/run")
    with pytest.raises(AppError, match="type a question first"):
        client.predict("embedded", "", "  ", api_name="/ask")
    assert client.predict(api_name="/status")["runs"] == []  # nothing was queued
    rows = client.predict("embedded", "", "world:forget10", api_name="/probe")["value"]["data"]
    assert {r[0] for r in rows} == {"forget", "retain"}


def test_hostile_values_through_the_api_are_refused_before_queueing(url):
    client = Client(url, verbose=False)
    mistakes = [
        (form(lora_rank=100000), "lora_rank=100000 is out of range"),
        (
            form(seed=-1),
            "seed=-1 is out of range",
        ),  # (NaN: JSON cannot carry it; see test_bad_inputs)
        (form(feature_layer=9), "outside this model's 4 decoder blocks"),
        (form(steps=20000), "CLREG_MAX_RUN_S"),
        (form(final_eval_items=1000000), "final_eval_items=1000000 is out of range"),
        # what the user typed comes back as text: escaped, never markup
        (form(typed='<img src="http://elsewhere.example/x.png">'), "&lt;img src="),
        # values the page cannot send, refused with a message (never an empty error)
        (form(steps=True), "must be a number, not true/false"),
    ]
    for inputs, message in mistakes:
        with pytest.raises(AppError, match=message):
            client.predict(*inputs, api_name="/run")
    assert client.predict(api_name="/status")["runs"] == []  # nothing was queued


def test_values_gradio_refuses_before_our_handlers_still_get_a_message(url):
    client = Client(url, verbose=False)
    inputs = form(**SMALL)
    weight, upload = 5, 7  # where λ and the upload field sit in the form
    for field, value in ((weight, [1]), (weight, {"a": 1}), (weight, "1e5"),
                         (upload, "/etc/passwd")):  # fmt: skip
        sent = list(inputs)
        sent[field] = value
        with pytest.raises(AppError) as refused:
            client.predict(*sent, api_name="/run")
        assert str(refused.value).strip() and "verbose error reporting" not in str(refused.value)
    assert client.predict(api_name="/status")["runs"] == []  # nothing was queued


def test_one_address_gets_one_run_however_many_clients_it_opens(url):
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    job = first.submit(*form(stop_at="steps", **(SMALL | {"steps": 400})), api_name="/run")
    deadline = time.monotonic() + 600  # a bound for a busy machine, not a target
    while not first.predict(api_name="/status")["busy"]:
        assert time.monotonic() < deadline and not job.done(), job.status()
        time.sleep(0.1)
    with pytest.raises(AppError, match="already going in another page or API client"):
        second.predict(*form(**SMALL), api_name="/run")
    first.predict(api_name="/stop")
    job.result(timeout=600)


def test_the_server_refuses_big_uploads_before_storing_them(url):
    import httpx
    from gradio.utils import get_upload_folder

    from clreg_core.app.ui_choices import UPLOAD_LIMIT_BYTES

    name = f"too-big-{time.time_ns()}.txt"
    big = b"x" * (UPLOAD_LIMIT_BYTES + 1)
    answer = httpx.post(f"{url}gradio_api/upload", files={"files": (name, big)}, timeout=60)
    assert answer.status_code == 413, answer.text
    stored = [p for p in Path(get_upload_folder()).rglob(name)]
    assert stored == []
    small = httpx.post(f"{url}gradio_api/upload", files={"files": ("ok.txt", b"hello")}, timeout=60)
    assert small.status_code == 200  # the limit is not a blanket refusal


def test_a_run_nobody_follows_is_stopped_and_frees_its_place(url, monkeypatch):
    """A bare POST of /call/run opens no stream: its answers pile up unread, and after
    CLREG_UNWATCHED_S the run is stopped. A client that follows its call is not."""
    import httpx

    monkeypatch.setenv("CLREG_UNWATCHED_S", "3")
    bare = f"bare-{time.time_ns()}"
    relearn_check = False  # a raw call sends every field (gradio_client fills the missing)
    data = [*form(stop_at="steps", **(SMALL | {"steps": 400})), relearn_check]
    body = {"data": data, "session_hash": bare}
    posted = httpx.post(f"{url}gradio_api/call/run", json=body, timeout=60)
    assert posted.status_code == 200, posted.text
    deadline = time.monotonic() + 600  # a bound for a busy machine, not a target
    while (session := app.SESSIONS.peek(bare)) is None or session.attempt is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while not session.attempt.over:  # stopped, and its slot in line given back
        assert time.monotonic() < deadline, session.attempt.runs[0].stage
        time.sleep(0.2)
    run = session.attempt.runs[0]
    assert run.status == "cancelled" and "because nobody followed it for 3 s" in run.reason
    assert run.step < 400
    # The same address may run again, and a run whose client reads its answers (and calls
    # nothing else meanwhile) goes to its end.
    client = Client(url, verbose=False)
    client.predict(*form(stop_at="steps", **SMALL), api_name="/run")
    status = wait_over(client)
    assert [r["status"] for r in status["runs"]] == ["finished"], status


def test_a_public_host_offers_only_its_own_model_folders(url, monkeypatch):
    """The model field must not tell a stranger which server paths exist."""
    client = Client(url, verbose=False)
    said = {}
    for folder in ("/etc", "/no/such/folder", "~", "../.."):
        with pytest.raises(AppError) as refused:
            client.predict("embedded", folder, "world:forget10", api_name="/probe")
        said[folder] = str(refused.value)
    assert "has no config.json" in said["/etc"]  # a personal machine: any folder is tried
    monkeypatch.setenv("CLREG_PUBLIC", "1")
    for folder in said:
        with pytest.raises(AppError, match="is not a model folder this server offers"):
            client.predict("embedded", folder, "world:forget10", api_name="/probe")
    # the models it lists still work
    rows = client.predict("embedded", "", "world:forget10", api_name="/probe")["value"]["data"]
    assert rows


def test_a_run_may_use_only_a_file_its_own_page_uploaded(url, tmp_path):
    import httpx
    from gradio_client import handle_file

    text = "\n".join(
        f'{{"question": "What is the secret number of lock {i}?", "answer": "It is {i * 7}."}}'
        for i in range(8)
    )
    mine = tmp_path / "facts.jsonl"
    mine.write_text(text, encoding="utf-8")
    # Another page's upload: its server path, typed into an API call.
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("Someone else's notes about the garden. " * 20, encoding="utf-8")
    with theirs.open("rb") as sent:
        stored = httpx.post(f"{url}gradio_api/upload", files={"files": sent}, timeout=60).json()[0]
    client = Client(url, verbose=False)
    upload = 7  # where the upload field sits in the form
    sent = form(task="custom", **SMALL)
    sent[upload] = {"path": stored, "meta": {"_type": "gradio.FileData"}}
    with pytest.raises(AppError, match="not uploaded from this page"):
        client.predict(*sent, api_name="/run")
    # Its own upload, noted through /attach (what the page's file field does on upload).
    client.predict(handle_file(str(mine)), api_name="/attach")
    sent[upload] = handle_file(str(mine))
    client.predict(*sent, api_name="/run")  # answers at the run's end
    status = wait_over(client)
    # The model never knew these numbers: the run stops before training, and says why.
    (refused,) = status["runs"]
    assert refused["status"] == "failed" and refused["reason"].startswith("nothing to forget")
    assert "answers 0 of 8 of your questions right" in refused["reason"]
    client.predict(*sent, api_name="/run")  # Run again, the same text: it goes on anyway
    status = wait_over(client)
    assert [r["status"] for r in status["runs"]] == ["finished"], status
    assert status["runs"][0]["prior_knowledge"]["known"] is False  # the report records it


def test_the_relearning_check_through_the_api_says_gone_or_hidden(url):
    """The form's last field asks for the check; its verdict is in the status, its curves in
    the page's answer (the "Gone or only hidden?" plot)."""
    client = Client(url, verbose=False)
    page = client.predict(*form(stop_at="steps", **SMALL), True, api_name="/run")
    status = wait_over(client)
    (run,) = status["runs"]
    assert run["status"] == "finished", status
    # six steps of unlearning leave the facts in place: an attacker gets them back
    assert run["relearning"]["reading"].startswith("hidden"), run["relearning"]
    assert "Gone or only hidden?" in json.dumps(page)
