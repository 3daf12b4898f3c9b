"""The engine on small models built from configs: LoRA, one-pass features, events, cancel, NaN."""

import json
import threading

import pytest
import torch
from tiny_models import loaded_tiny, nonzero_adapter, small_config, tiny_model

from clreg_core.config import RunConfig
from clreg_core.engine import assessment as assessment_module
from clreg_core.engine import phase_costs
from clreg_core.engine.jobs import Job
from clreg_core.engine.lora import attach_lora, capture_block_outputs, decoder_blocks
from clreg_core.engine.training import FIRST_VIEW_STAGE, STAGES, run_unlearning
from clreg_core.models.loading import load_model


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "gpt_neox"])
def test_lora_trains_only_adapter_weights_on_each_family(family, tokenizer, small_task):
    loaded = loaded_tiny(family, tokenizer)
    base_before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    result = run_unlearning(small_config(), task=small_task, loaded=loaded)
    assert result.status == "finished", result.reason
    moved_lora, base_names = 0, 0
    for name, param in result.model.named_parameters():
        if "lora_" in name:
            assert param.requires_grad
            moved_lora += "lora_B" in name and bool(param.detach().abs().sum() > 0)
        else:
            assert not param.requires_grad
            original = name.replace("base_model.model.", "").replace(".base_layer", "")
            assert torch.equal(param.detach(), base_before[original]), name
            base_names += 1
    assert moved_lora > 0 and base_names > 0


@pytest.mark.parametrize("method", ["gradascent", "graddiff", "npo", "simnpo", "rmu"])
def test_every_method_with_clreg_reports_its_terms(method, tokenizer, small_task):
    result = run_unlearning(
        small_config(method=method), task=small_task, loaded=loaded_tiny("llama", tokenizer)
    )
    assert result.status == "finished", result.reason
    terms = result.report["history"]["steps"][0]
    assert {"forget", "clreg", "anchor", "total"} <= set(terms)
    assert "entanglement" in result.report["metrics"]["after"]


@pytest.mark.parametrize("method", ["graddiff", "npo", "simnpo"])
def test_the_kl_retain_term_starts_at_zero_and_grows_as_the_model_moves(
    method, tokenizer, small_task
):
    config = small_config(method=method, clreg=False, retain_loss="kl", learning_rate=5e-2)
    result = run_unlearning(config, task=small_task, loaded=loaded_tiny("llama", tokenizer))
    assert result.status == "finished", result.reason
    steps = result.report["history"]["steps"]
    assert "retain_nll" not in steps[0]
    # step 1 sees the zero adapter: the model is the original, so nothing to keep yet
    assert steps[0]["retain_kl"] == pytest.approx(0.0, abs=1e-5)
    assert max(s["retain_kl"] for s in steps[1:]) > 1e-4
    assert all(s["total"] == pytest.approx(s["forget"] + s["retain_kl"]) for s in steps)


def test_activation_checkpointing_trains_the_same_steps(tokenizer, small_task):
    """Recomputing block activations in the backward pass (with the feature hooks, NPO's
    reference pass and the guess rows) changes the memory, not the numbers."""
    curves = {}
    for switch in ("off", "on"):
        config = small_config(activation_checkpointing=switch, guess_weight=1.0, precision="fp32")
        result = run_unlearning(config, task=small_task, loaded=loaded_tiny("llama", tokenizer))
        assert result.status == "finished", result.reason
        assert result.report["activation_checkpointing"] is (switch == "on")
        curves[switch] = result.report["history"]["steps"]
    for off, on in zip(curves["off"], curves["on"], strict=True):
        for term, value in off.items():
            assert on[term] == pytest.approx(value, rel=1e-5, abs=1e-6), (off["step"], term)


def _count_forwards(model):
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(torch.is_grad_enabled()))
    return calls, handle


def test_features_come_from_the_loss_forward_pass(tokenizer, small_task):
    """GradDiff + CLReg without the anchor needs no reference: one forward per step."""
    from clreg_core.engine.evaluation import Measurer
    from clreg_core.engine.objective import Objective
    from clreg_core.engine.sampling import Batches

    config = small_config(method="graddiff", anchor_weight=0.0)
    model = attach_lora(tiny_model("llama"), config)
    objective = Objective(model, config, hidden_size=32)
    batch, n_forget, groups = Batches(
        Measurer(model, tokenizer, "qa", 48), small_task, config
    ).next("cpu")
    calls, handle = _count_forwards(decoder_blocks(model)[0])
    objective(batch, n_forget, groups)
    handle.remove()
    assert calls == [True]
    # NPO adds exactly one gradient-free reference pass, with the adapter disabled.
    npo = Objective(model, small_config(method="npo"), hidden_size=32)
    calls, handle = _count_forwards(decoder_blocks(model)[0])
    npo(batch, n_forget, groups)
    handle.remove()
    assert calls == [True, False]


@pytest.mark.parametrize("negatives", ["current", "reference"])
def test_reference_numbers_are_computed_once_per_item(negatives, tokenizer, small_task):
    """NPO's reference log-probs and the anchor's reference features come from the cache for
    items drawn before: a repeated batch runs no reference pass, and every term equals the one
    a full reference pass gives, also for items first seen in a batch of another width."""
    from clreg_core.engine.evaluation import Measurer
    from clreg_core.engine.objective import Objective
    from clreg_core.engine.sampling import Batches

    config = small_config(method="npo", negatives=negatives, forget_batch_size=4)
    model = attach_lora(tiny_model("llama"), config)
    nonzero_adapter(model)
    batches = Batches(Measurer(model, tokenizer, "qa", 48), small_task, config)
    cached = Objective(model, config, hidden_size=32)
    uncached = Objective(model, config, hidden_size=32)
    seen: set = set()
    for _ in range(4):
        batch, n_forget, groups = batches.next("cpu")
        keys = list(batches.last_keys)
        calls, handle = _count_forwards(decoder_blocks(model)[0])
        with_cache = cached(batch, n_forget, groups, keys=keys).terms
        handle.remove()
        new_items = not seen.issuperset(keys)
        assert calls == ([True, False] if new_items else [True])
        seen.update(keys)
        full = uncached(batch, n_forget, groups).terms
        for name in full:
            assert with_cache[name] == pytest.approx(full[name], rel=1e-4, abs=1e-5), name
    again = cached(batch, n_forget, groups, keys=keys).terms
    assert again == with_cache
    # the cache holds one log-prob per forget item and one feature per retain item seen
    assert cached.cache.computed_rows <= len(seen)
    assert {k for k in seen if k[0] == "forget"} <= set(cached.cache.logp)
    assert {k for k in seen if k[0] == "retain"} <= set(cached.cache.features)


def test_guess_rows_share_the_forward_pass_and_score_as_alone(tokenizer, small_task):
    """The guess rows ride in the batch's forward pass (one block call with gradient per
    step), padded to a common width; every term is the number a separate pass gives."""
    from clreg_core.engine.evaluation import Measurer
    from clreg_core.engine.losses import first_scored_position
    from clreg_core.engine.objective import Objective, guess_loss
    from clreg_core.engine.sampling import Batches

    config = small_config(method="npo", guess_weight=1.0)
    model = attach_lora(tiny_model("llama"), config)
    with torch.no_grad():  # a non-zero adapter, so the adapter-on and -off passes differ
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(0)) * 0.1)
    model.eval()  # no dropout: the two ways must see the same network
    batches = Batches(Measurer(model, tokenizer, "qa", 48), small_task, config)
    batch, n_forget, groups = batches.next("cpu")
    # five more padding columns on the guesses, so the batch is padded in the joint pass
    guesses = {
        key: torch.nn.functional.pad(value, (0, 5), value=-100 if key == "labels" else 0)
        for key, value in batches.guesses("cpu").items()
    }
    objective = Objective(model, config, hidden_size=32)
    calls, handle = _count_forwards(decoder_blocks(model)[0])
    joint = objective(batch, n_forget, groups, guesses).terms
    handle.remove()
    assert calls == [True, False]  # one pass with gradient (batch + guesses), one reference
    alone = objective(batch, n_forget, groups).terms
    for name in alone:
        if name != "total":
            assert joint[name] == pytest.approx(alone[name], rel=1e-4, abs=1e-5), name
    start = first_scored_position(guesses["labels"])
    logits = model(
        input_ids=guesses["input_ids"],
        attention_mask=guesses["attention_mask"],
        logits_to_keep=guesses["labels"].shape[1] - start,
    ).logits
    separate = guess_loss(
        logits, guesses["labels"][:, start:], guesses["value_mask"][:, start:]
    ).item()
    assert joint["guess"] == pytest.approx(config.guess_weight * separate, rel=1e-4)


def test_block_hook_matches_hidden_states(tokenizer):
    model = tiny_model("llama").eval()
    ids = torch.tensor([tokenizer("Question: Who?\nAnswer:")["input_ids"]])
    model(ids, output_hidden_states=True)  # transformers adds hooks of its own on a first call
    hooks_before = dict(decoder_blocks(model)[0]._forward_hooks)
    with capture_block_outputs(model, [0, 1]) as captured:
        out = model(ids, output_hidden_states=True)
    # hidden_states[0] is the embedding output; hidden_states[k + 1] leaves block k.
    assert torch.allclose(captured[0], out.hidden_states[1])
    assert torch.allclose(captured[1], out.hidden_states[2])
    assert dict(decoder_blocks(model)[0]._forward_hooks) == hooks_before  # ours are removed


def test_events_arrive_in_order(tokenizer, small_task, tmp_path, monkeypatch):
    monkeypatch.setenv("CLREG_CACHE", str(tmp_path))  # where the phases' costs are kept
    monkeypatch.setattr(assessment_module, "_ORIGINAL_CACHE", {})  # as in a new process
    events = []
    result = run_unlearning(
        small_config(steps=4),
        on_event=events.append,
        task=small_task,
        loaded=loaded_tiny("llama", tokenizer),
    )
    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert kinds.count("step") == 4
    evaluations = [e for e in events if e.kind == "evaluation"]
    # each step twice: the points at once, then again with the slower parity measures added
    assert [e.step for e in evaluations] == [0, 0, 2, 2, 4, 4]
    first, again = evaluations[0].data["metrics"], evaluations[1].data["metrics"]
    assert "parity_auc" not in first and {"parity_auc", "forget_accuracy"} <= set(again)
    assert len(evaluations[0].data["points"]["forget"]) == 16
    assert [e["step"] for e in result.report["history"]["evaluations"]] == [0, 2, 4]
    timing = result.report["timing"]
    assert timing["seconds_per_step"] > 0 and timing["live_evaluations_seconds"] > 0
    assert "live_evaluations_seconds" in timing["seconds_per_step_covers"]
    stages = [e.data["stage"] for e in events if e.kind == "stage"]
    # the step-0 view has a stage of its own: a page said "loading the model" while it ran
    assert stages == [FIRST_VIEW_STAGE, *STAGES]
    assert kinds.index("stage") < kinds.index("evaluation")
    # the original model was measured, not read back: the next run's page gets an estimate
    before_stage = next(e for e in events if e.kind == "stage" and e.data["stage"] == STAGES[0])
    assert before_stage.data["kept"] is False
    costs = json.loads((tmp_path / "phase_costs.json").read_text())
    assert [p for c in costs.values() for p in c if "before" in p] == [phase_costs.MEASURE_BEFORE]
    first_step = kinds.index("step")  # "training" is announced just before the first step
    assert events[first_step - 1].data.get("stage") == "training"


def test_a_job_can_be_cancelled_midway(tokenizer, small_task):
    job = Job(small_config(steps=500), task=small_task, loaded=loaded_tiny("llama", tokenizer))
    job.start()
    while True:
        event = job.events.get(timeout=60)
        if event.kind == "step" and event.step >= 2:
            job.cancel()
        if event.kind in ("finished", "failed", "cancelled"):
            break
    job.wait(60)
    assert event.kind == "cancelled" and job.result.status == "cancelled"
    assert 2 <= len(job.result.report["history"]["steps"]) < 500
    assert not job.running


def test_non_finite_loss_stops_with_a_reason(tokenizer, small_task):
    loaded = loaded_tiny("llama", tokenizer)

    def corrupt_after_first_step(event):
        if event.kind == "step" and event.step == 1:  # a weight blows up mid-run
            with torch.no_grad():
                loaded.model.lm_head.weight[0, 0] = float("nan")

    result = run_unlearning(
        small_config(), on_event=corrupt_after_first_step, task=small_task, loaded=loaded
    )
    assert result.status == "failed" and "loss became nan at step 2" in result.reason


def test_bad_model_in_a_job_fails_with_a_message():
    job = Job(small_config(model="no-such-model!")).start()
    job.wait(30)
    assert job.result.status == "failed" and "unknown model" in job.result.reason


def test_a_bug_in_a_job_goes_to_the_log_not_into_its_report(monkeypatch, caplog):
    from clreg_core.engine import jobs

    def broken(*args, **kwargs):  # stands in for a bug deep in a run
        raise RuntimeError("exploded")

    monkeypatch.setattr(jobs, "run_unlearning", broken)
    with caplog.at_level("ERROR", logger="clreg_lab"):
        job = Job(small_config()).start()
        job.wait(30)
    report = job.result.report
    assert job.result.status == "failed" and "details in the server log" in job.result.reason
    assert "traceback" not in report and "Traceback" not in json.dumps(report)
    assert "Traceback" in caplog.text and "exploded" in caplog.text


def test_original_model_is_measured_once_per_weights_and_items(tokenizer, small_task):
    from clreg_core.engine.assessment import Assessment
    from clreg_core.engine.evaluation import Measurer
    from clreg_core.engine.lora import base_weights_fingerprint

    def assessment_for(model):
        measurer = Measurer(model, tokenizer, "qa", 48)
        return Assessment(measurer, small_task, 2, 16, seed=0), base_weights_fingerprint(model)

    first, first_id = assessment_for(tiny_model("llama"))
    snap = first.measure_original(first_id)
    snap.metrics["added_by_caller"] = 1.0  # a caller's additions must not leak into the cache
    again, again_id = assessment_for(tiny_model("llama"))  # same seed: same weights
    assert again_id == first_id
    cached = again.measure_original(again_id)
    assert "added_by_caller" not in cached.metrics
    assert cached.metrics["forget_answer_prob"] == snap.metrics["forget_answer_prob"]

    other = tiny_model("llama")
    with torch.no_grad():
        other.lm_head.weight.mul_(2.0)  # different weights must not reuse the snapshot
    third, third_id = assessment_for(other)
    assert third_id != first_id
    assert third.measure_original(third_id).metrics["forget_answer_prob"] != pytest.approx(
        snap.metrics["forget_answer_prob"]
    )


def test_a_job_can_pause_after_its_first_points_and_a_stop_ends_the_pause(tokenizer, small_task):
    import time

    def paused_job(seconds: float) -> Job:
        return Job(
            small_config(steps=2),
            task=small_task,
            loaded=loaded_tiny("llama", tokenizer),
            pause_after_first_points=seconds,
        ).start()

    job = paused_job(0.5)
    arrivals = []  # (kind, step, seconds since start)
    started = time.perf_counter()
    while job.running or not job.events.empty():
        for event in job.drain():
            arrivals.append((event.kind, event.step, time.perf_counter() - started))
        time.sleep(0.01)
    first = next(i for i, a in enumerate(arrivals) if a[0] == "evaluation")
    assert arrivals[first + 1][2] - arrivals[first][2] >= 0.4  # the pause, give or take polling
    assert job.result.status == "finished"

    stopped = paused_job(30.0)
    while not any(e.kind == "evaluation" for e in stopped.drain()):
        time.sleep(0.01)
    stopped.cancel()
    assert stopped.wait(timeout=10).status == "cancelled"  # not 30 s later


@pytest.mark.parametrize(
    ("stage", "has_before"),
    [("measuring the original model", False), ("measuring the unlearned model", True)],
)
def test_a_stop_ends_a_measurement_and_keeps_what_was_measured(stage, has_before):
    """The real embedded model: a Stop in a measuring phase ends the run there, not after it."""
    stop = threading.Event()

    def on_event(event):
        if event.kind == "stage" and event.data["stage"] == stage:
            stop.set()

    config = RunConfig(
        steps=4, eval_every=2, final_eval_items=400, stop_at="steps", seed=stage.count("o")
    )  # a seed per case, so the original model's cached measurement is not reused
    result = run_unlearning(config, on_event=on_event, should_stop=stop.is_set)
    assert result.status == "cancelled" and result.reason == f"stopped by the user while {stage}"
    metrics = result.report.get("metrics", {})
    assert ("before" in metrics) == has_before and "after" not in metrics
    assert result.report["history"]["evaluations"]  # the live points it had are kept


def test_a_stop_halts_greedy_generation_between_tokens():
    from clreg_core.engine.generation import greedy_answers

    loaded = load_model("embedded")
    prompts = ["Question: Where was Riaisuv Fivane born?\nAnswer:"] * 3
    full = greedy_answers(loaded.model, loaded.tokenizer, prompts, 16)
    assert all(full)
    halted = greedy_answers(loaded.model, loaded.tokenizer, prompts, 16, should_stop=lambda: True)
    assert halted == ["", "", ""]  # stopped before the first batch


def test_the_guess_term_trains_on_world_questions_and_is_off_elsewhere(tokenizer, small_task):
    from clreg_core.data.items import UnlearningTask

    result = run_unlearning(
        small_config(clreg=False, guess_weight=1.0),
        task=small_task,
        loaded=loaded_tiny("llama", tokenizer),
    )
    assert result.status == "finished", result.reason
    steps = result.report["history"]["steps"]
    # the term is logged with its weight applied and adds to the total
    assert all(s["guess"] > 0 for s in steps)
    assert all(
        s["total"] == pytest.approx(s["forget"] + s["retain_nll"] + s["guess"]) for s in steps
    )
    assert result.report["guess_term"] == "on (weight 1)"
    # no world fact to swap (own text): the run goes on without the term and says so, since
    # the embedded model's default weight must not refuse such a task
    passages = tuple(i for i in build_passages(small_task))
    no_facts = UnlearningTask("text", passages, small_task.retain, ())
    result = run_unlearning(
        small_config(guess_weight=1.0), task=no_facts, loaded=loaded_tiny("llama", tokenizer)
    )
    assert result.status == "finished", result.reason
    assert "guess" not in result.report["history"]["steps"][0]
    assert result.report["guess_term"].startswith("off: text has no answers with a value to guess")


def build_passages(task):
    from clreg_core.data.items import Item

    return [Item(kind="passage", text=f"{i.answer} Indeed.", group=i.group) for i in task.forget]


def test_attaching_lora_prints_no_deprecation_warning_from_peft():
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attach_lora(tiny_model("llama"), small_config())
    assert not [w for w in caught if "is_gradient_checkpointing" in str(w.message)]
