"""Bad input meets a clear message before any work: every setting has a range, the model's shape
bounds what it allows, and a run beyond the host's budget is refused before it is queued
(issue 12). Real configs, the real embedded model's config and the real handlers; nothing here
trains, since every case is refused (or only admitted) before a run would start."""

from __future__ import annotations

import functools
import math

import gradio as gr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
from benchmarks.scale import SHAPES
from clreg_core.app.session import Session
from clreg_core.app.ui_choices import ADVANCED_FIELDS, advanced_defaults, config_from_form
from clreg_core.cli import build_parser, config_from_args
from clreg_core.config import ConfigError, RunConfig, default_config
from clreg_core.engine.budget import Limits, admit, check_device_memory, estimate
from clreg_core.engine.tasks import task_for_model
from clreg_core.errors import UserInputError
from clreg_core.models.registry import EMBEDDED
from clreg_core.models.shape import model_shape

FIELDS = [name for name, _, _ in ADVANCED_FIELDS]
LABELS = {name: label for name, label, _ in ADVANCED_FIELDS}


def form(**changes) -> list:
    values = dict(zip(FIELDS, advanced_defaults("embedded"), strict=True))
    values.update(changes)
    return [values[name] for name in FIELDS]


def from_form(model="embedded", task="world:forget10", method="npo", weight=3.0, **advanced):
    return config_from_form(model, task, method, True, weight, form(**advanced))


@pytest.fixture(autouse=True)
def default_budget(monkeypatch):
    monkeypatch.delenv("CLREG_MAX_RUN_S", raising=False)
    monkeypatch.delenv("CLREG_MAX_RUN_MB", raising=False)


# --- the form: each field's range, in words that name it ---
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lora_rank": 100000}, "lora_rank=100000 is out of range; it must be between 1 and 1024"),
        ({"steps": 100000}, "steps=100000 is out of range"),
        ({"final_eval_items": 1000000}, "final_eval_items=1000000 is out of range"),
        ({"seed": -1}, "seed=-1 is out of range"),
        ({"seed": math.nan}, "seed=nan must be a finite number"),
        ({"steps": math.inf}, "steps=inf must be a finite number"),
        ({"learning_rate": "abc"}, "learning rate='abc' must be a number"),
        ({"learning_rate": 2.0}, "learning_rate=2.0 is out of range"),
        ({"learning_rate": -math.inf}, "must be a finite number"),
        ({"steps": 2.5}, "steps=2.5 must be a whole number"),
        ({"steps": ""}, "steps is empty"),
        ({"steps": None}, "steps is empty"),
        ({"temperature": 0}, "temperature=0.0 is out of range"),
        ({"anchor_weight": 1e9}, "anchor_weight=1000000000.0 is out of range"),
        ({"eval_every": 0}, "eval_every=0 is out of range"),
        ({"feature_layer": 5000}, "feature_layer=5000 is out of range"),
        ({"seed": 2**40}, "seed=1099511627776 is out of range"),
        ({"steps": [3]}, "must be a number"),
    ],
)
def test_form_values_out_of_range_name_the_field(changes, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        from_form(**changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": None}, "λ \\(CLReg weight\\) is empty"),
        ({"weight": -1.0}, "clreg_weight=-1.0 is out of range"),
        ({"weight": math.nan}, "must be a finite number"),
        ({"method": "foo"}, "method='foo' is not one of"),
        ({"task": ""}, "task must not be empty"),
        ({"model": ""}, "no model chosen"),
    ],
)
def test_form_choices_and_empties(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        from_form(**kwargs)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"stop_at": "never"}, "stop_at='never' is not one of parity, steps"),
        ({"items_per_group": 32}, "items_per_group=32 is more than forget_batch_size=16"),
        ({"max_length": 100000}, "max_length=100000 is out of range"),
        ({"forget_batch_size": 0}, "forget_batch_size=0 is out of range"),
        ({"retain_batch_size": 10**6}, "retain_batch_size=1000000 is out of range"),
        ({"npo_beta": 0.0}, "npo_beta=0.0 is out of range"),
        ({"parity_auc_tolerance": 0.5}, "parity_auc_tolerance=0.5 is out of range"),
    ],
)
def test_config_fields_beyond_the_form(changes, message):
    with pytest.raises(ConfigError, match=message):
        default_config("embedded", **changes)


# --- what the model allows, from its config alone ---
@pytest.fixture(scope="module")
def embedded_task():
    return world_task()


def limits(seconds=None, megabytes=None) -> Limits:
    return Limits(seconds, megabytes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"feature_layer": 4}, "feature_layer=4 is outside this model's 4 decoder blocks"),
        ({"feature_layer": -5}, "feature_layer=-5 is outside"),
        ({"rmu_layer": 99}, "rmu_layer=99 is outside"),
        ({"lora_rank": 512}, "lora_rank=512 is more than this model's width \\(256\\)"),
        ({"max_length": 1024}, "max_length=1024 is more than this model's context \\(256"),
    ],
)
def test_settings_the_model_rules_out(changes, message, embedded_task):
    config = default_config("embedded", **changes)
    with pytest.raises(ConfigError, match=message):
        admit(config, embedded_task, limits())


def test_the_defaults_pass_and_the_layer_bounds_are_inclusive(embedded_task):
    for layer in (0, 3, -1, -4):
        admit(default_config("embedded", feature_layer=layer), embedded_task, Limits.from_env())
    estimated = admit(default_config("embedded"), embedded_task, Limits.from_env())
    assert 10 < estimated.seconds < 300 and estimated.megabytes < 2000, estimated


def test_a_run_beyond_the_time_budget_is_refused_before_queueing(embedded_task):
    config = default_config("embedded", steps=20000)
    with pytest.raises(ConfigError, match="CLREG_MAX_RUN_S.*most of it is training"):
        admit(config, embedded_task, Limits.from_env())
    admit(config, embedded_task, limits())  # no budget (the CLI's default): admitted


def test_the_budget_comes_from_the_environment(monkeypatch, embedded_task):
    monkeypatch.setenv("CLREG_MAX_RUN_MB", "50")
    with pytest.raises(ConfigError, match="CLREG_MAX_RUN_MB.*lower the LoRA rank"):
        admit(default_config("embedded"), embedded_task, Limits.from_env())
    monkeypatch.setenv("CLREG_MAX_RUN_MB", "lots")
    with pytest.raises(ConfigError, match="CLREG_MAX_RUN_MB='lots' must be a number"):
        Limits.from_env()
    monkeypatch.setenv("CLREG_MAX_RUN_MB", "0")  # 0: no limit
    assert Limits.from_env().max_megabytes is None


def test_estimates_grow_with_what_costs(embedded_task):
    shape = model_shape("embedded")
    base = estimate(default_config("embedded"), shape, embedded_task)
    longer = estimate(default_config("embedded", steps=200), shape, embedded_task)
    wider = estimate(default_config("embedded", lora_rank=256), shape, embedded_task)
    assert longer.parts["training"] == pytest.approx(2 * base.parts["training"], rel=0.05)
    assert wider.megabytes > base.megabytes and wider.seconds == base.seconds
    smol = model_shape("smollm2-135m")
    assert 130e6 < smol.parameters < 140e6 and smol.layers == 30  # its config, not its weights


LLAMA_8B = {"model_type": "llama", **SHAPES["llama-8b"]}  # its shape, no weights needed


@pytest.fixture
def llama_8b(tmp_path):
    """A local model folder holding only Llama-3.1-8B's config, and its shape."""
    import json

    (tmp_path / "config.json").write_text(json.dumps(LLAMA_8B))
    return str(tmp_path), model_shape(str(tmp_path))


def test_a_large_model_is_estimated_in_bf16_on_a_gpu_and_refused_when_it_cannot_fit(llama_8b):
    folder, shape = llama_8b
    assert 7.9e9 < shape.parameters < 8.1e9
    # checkpointing off: it too is on by default for such a run, and lowers the GPU's figure
    config = default_config(folder, activation_checkpointing="off")
    on_gpu = estimate(config, shape, device="cuda")
    on_cpu = estimate(config, shape, device="cpu")
    fp32_gpu = estimate(config.with_changes(precision="fp32"), shape, device="cuda")
    # bf16 frozen weights (and gold twin) halve the weights' share: 2 x 8e9 x 2 bytes saved
    assert on_cpu.megabytes - on_gpu.megabytes == pytest.approx(2 * shape.parameters * 2 / 2**20)
    assert fp32_gpu.megabytes == pytest.approx(on_cpu.megabytes)
    with pytest.raises(ConfigError, match=r"more than the GPU has free \(24,000 MB\).*several"):
        check_device_memory(on_gpu, free_megabytes=24_000)
    check_device_memory(on_gpu, free_megabytes=140_000)  # an H200 holds it
    check_device_memory(on_cpu, free_megabytes=None)  # CPUs answer to CLREG_MAX_RUN_MB alone


def test_sharding_over_processes_divides_the_weights_each_gpu_holds(llama_8b, monkeypatch):
    folder, shape = llama_8b
    config = default_config(folder)
    alone = estimate(config, shape, device="cuda")
    monkeypatch.setenv("WORLD_SIZE", "4")
    data_parallel = estimate(config, shape, device="cuda")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    sharded = estimate(config, shape, device="cuda")
    # data parallel: fewer rows a GPU, the whole model on each; sharded: a quarter of it too
    assert alone.megabytes > data_parallel.megabytes > sharded.megabytes
    weights = 2 * shape.parameters * 2 / 2**20  # the model and its gold twin, bf16
    assert data_parallel.megabytes - sharded.megabytes > 0.7 * weights
    check_device_memory(sharded, free_megabytes=24_000)  # four 24 GB GPUs hold it together
    with pytest.raises(ConfigError, match="shard it over several GPUs with FSDP"):
        check_device_memory(alone, free_megabytes=24_000)


def test_activation_checkpointing_is_on_for_large_gpu_runs_and_lowers_the_estimate(llama_8b):
    from clreg_core.engine.budget import checkpoints_activations

    folder, shape = llama_8b
    config = default_config(folder, forget_batch_size=16, retain_batch_size=16)
    assert checkpoints_activations(config, shape.parameters, "cuda")
    assert not checkpoints_activations(config, shape.parameters, "cpu")
    assert not checkpoints_activations(config, 135e6, "cuda")
    off = config.with_changes(activation_checkpointing="off")
    assert not checkpoints_activations(off, shape.parameters, "cuda")
    on_gpu = estimate(config, shape, device="cuda").megabytes
    saved = estimate(off, shape, device="cuda").megabytes - on_gpu
    assert saved > 1000  # 32 rows of an 8B model's activations: gigabytes


def test_an_offline_hub_model_fails_fast_with_a_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserInputError, match="offline|reach|not available"):
        model_shape("nobody-here/no-such-model")


# --- the page: refused before queueing, and messages are text ---
def test_session_refuses_before_queueing():
    session = Session()
    with pytest.raises(ConfigError, match="outside this model's 4 decoder blocks"):
        session.start(default_config("embedded", feature_layer=7))
    with pytest.raises(ConfigError, match="CLREG_MAX_RUN_S"):
        session.start(default_config("embedded", steps=20000))
    assert session.attempt is None and not session.busy  # nothing was queued


def test_messages_show_user_input_as_text_not_html():
    @app.user_errors
    def handler(typed):
        raise UserInputError(f"no model called {typed!r}")

    with pytest.raises(gr.Error) as raised:
        handler('<img src="http://elsewhere.example/x.png"><a href="x">link</a>')
    assert "&lt;img src=" in raised.value.message and "<img" not in raised.value.message


def test_a_bug_in_a_handler_is_a_message_not_a_blank_error():
    @app.user_errors
    def handler():
        return {}["missing"]

    with pytest.raises(gr.Error, match="something went wrong on the server \\(KeyError\\)"):
        handler()


# --- any values at all: a config or one clear error, never another exception ---
ANY_VALUE = st.one_of(
    st.none(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(codec=None), max_size=8),  # every Unicode category
    st.booleans(),
)


@settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(field=st.sampled_from(FIELDS), value=ANY_VALUE, weight=ANY_VALUE)
def test_any_form_values_give_a_config_or_a_message_naming_the_field(field, value, weight):
    try:
        config = from_form(weight=weight, **{field: value})
    except ConfigError as error:
        text = str(error)
        assert field in text or LABELS[field] in text or "λ" in text or "clreg_weight" in text
        return
    assert isinstance(config, RunConfig)


FLAGS = ["--steps", "--lora-rank", "--seed", "--feature-layer", "--learning-rate",
         "--final-eval-items", "--max-length", "--temperature"]  # fmt: skip


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(flag=st.sampled_from(FLAGS), value=st.one_of(st.integers(-(10**9), 10**9), st.floats()))
def test_any_cli_flags_give_a_config_or_a_message(flag, value):
    try:  # argparse's own refusal ("argument --steps: invalid int value") exits with 2
        args = build_parser().parse_args(["run", "--out", "x", flag, str(value)])
    except SystemExit as exit_:
        assert exit_.code == 2 and isinstance(value, float)
        return
    try:
        config = config_from_args(args)
        admit(config, world_task(), limits())
    except ConfigError as error:
        assert flag.removeprefix("--").replace("-", "_") in str(error)


@functools.cache
def world_task():
    return task_for_model("world:forget10", EMBEDDED)


def test_free_questions_pass_the_same_memory_budget_before_loading(monkeypatch):
    from clreg_core.app import explore

    monkeypatch.setenv("CLREG_MAX_RUN_MB", "100")  # SmolLM2's fp32 weights are ~513 MB
    cache = explore.ModelCache()
    with pytest.raises(ConfigError, match="'smollm2-135m' has about 0.1B parameters .*pick a"):
        cache.get("smollm2-135m")
    assert cache.get("embedded").spec.key == "embedded"  # 15 MB: admitted


# --- messages name no server path but what the user typed ---
def test_a_broken_model_folder_is_named_as_typed_and_no_other_server_path(tmp_path):
    import shutil

    from clreg_core.errors import ModelUnavailableError
    from clreg_core.models.loading import load_model
    from clreg_core.models.registry import resolve_model

    real = tmp_path / "real-folder"
    real.mkdir()
    (real / "config.json").write_text('{"model_type": "llama"}')  # and no weights
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(resolve_model("embedded").source + "/" + name, real)
    typed = tmp_path / "typed-link"
    typed.symlink_to(real)
    with pytest.raises(ModelUnavailableError) as caught:
        load_model(str(typed))
    message = str(caught.value)
    assert str(typed) in message and "no file named model.safetensors" in message
    assert str(real) not in message  # the resolved folder on the server is not echoed


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("no file in /srv/app/models/x.bin here", "no file in <server path> here"),
        ("see /usr/lib/python3/site-packages/t.py:3", "see <server path>:3"),
        ("a/b/c is relative, http://host/a/b a link", "a/b/c is relative, http://host/a/b a link"),
        ("C:\\Users\\me\\model failed", "<server path> failed"),
    ],
)
def test_absolute_paths_are_redacted_and_nothing_else(text, said):
    from clreg_core.errors import redact_paths

    assert redact_paths(text) == said
    assert redact_paths("bad /home/me/m/config.json", keep=("/home/me/m",)) == (
        "bad /home/me/m/config.json"
    )
