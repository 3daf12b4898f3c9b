"""Ask a model what it knows: probe questions from a task, and free questions.

The app's "before" view builds on this. Loaded models are kept in a small cache so that a second
question does not reload weights; the cache is shared by every user of one app process, hence the
lock. A model with a gold twin (retrained without the forget set) answers free questions through
it too: what a model that never saw those people says.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict

from clreg_core.engine.budget import Limits, admit_model
from clreg_core.engine.generation import answer_matches, greedy_answers
from clreg_core.engine.tasks import task_for_model
from clreg_core.errors import UserInputError
from clreg_core.models.loading import LoadedModel, load_model
from clreg_core.models.registry import ModelSpec, resolve_model
from clreg_core.prompting import format_prompt
from clreg_core.user_text import normalised, visible_count

MAX_QUESTION_CHARS = 1_000


class ModelCache:
    """The most recently used models, loaded once each (at most `capacity` at a time).

    A slow load (SmolLM2's first conversion, a hub download) never holds up users of models
    already cached: lookups take a short lock of their own, and only loads wait for each other
    (per key, so a second user of the same model waits for the first load and then finds it).
    """

    def __init__(self, capacity: int = 2) -> None:
        self.capacity = capacity
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()  # guards the two dicts only, never held while loading
        self._loading: dict[str, threading.Lock] = {}

    def _cached(self, key: str) -> LoadedModel | None:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            return None

    def get(self, choice: str) -> LoadedModel:
        spec = resolve_model(choice)
        loaded = self._cached(spec.key)
        if loaded is not None:
            return loaded
        admit_model(spec, Limits.from_env())  # as for runs: it fits before it loads
        with self._lock:
            key_lock = self._loading.setdefault(spec.key, threading.Lock())
        with key_lock:  # one load per key; later callers find it cached
            loaded = self._cached(spec.key)
            if loaded is not None:
                return loaded
            loaded = load_model(spec)  # loads take turns process-wide (models.loading)
            with self._lock:
                self._models[spec.key] = loaded
                while len(self._models) > self.capacity:
                    self._models.popitem(last=False)
            return loaded


MODELS = ModelCache()


def _check_question(question: str) -> str:
    question = normalised(question or "", "the question").strip()
    if not question:
        raise UserInputError("type a question first")
    if not visible_count(question):
        raise UserInputError(
            "the question has no visible characters (only invisible ones, such as zero-width "
            "spaces); type a question first"
        )
    if len(question) > MAX_QUESTION_CHARS:
        raise UserInputError(
            f"the question is {len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,}"
        )
    return question


def ask(model_choice: str, question: str, max_new_tokens: int = 48) -> str:
    loaded = MODELS.get(model_choice)
    prompt = format_prompt(_check_question(question), loaded.prompt_style, loaded.tokenizer)
    return greedy_answers(loaded.model, loaded.tokenizer, [prompt], max_new_tokens)[0]


def ask_before_after(
    model, tokenizer, prompt_style: str, question: str, max_new_tokens: int = 48
) -> tuple[str, str]:
    """The original model's answer (LoRA adapter disabled) and the unlearned model's (adapter
    on), from one PeftModel: no second copy of the weights."""
    prompt = format_prompt(_check_question(question), prompt_style, tokenizer)
    with model.disable_adapter():
        before = greedy_answers(model, tokenizer, [prompt], max_new_tokens)[0]
    after = greedy_answers(model, tokenizer, [prompt], max_new_tokens)[0]
    return before, after


GOLD_LABEL = "gold model (never saw the forget set)"


def gold_label(spec: ModelSpec, task: str | None = None) -> str:
    """What the gold model is, in the free prompt's table: for a run on the split it was
    retrained without, the model that never saw the forget set; otherwise, which split it never
    saw."""
    if task and spec.gold_for(task):
        return GOLD_LABEL
    return f"gold model (never saw the {spec.gold_split} split)"


def ask_gold(spec: ModelSpec, question: str, max_new_tokens: int = 48) -> str | None:
    """The gold model's greedy answer (the model's retrain-without-the-forget-set twin, loaded
    from `spec.gold_source` through the shared cache, in its own prompt style); None for a model
    without one. A gold model that cannot be loaded (a hub twin while offline) answers with the
    reason instead: the other answers still count."""
    if not spec.gold_source:
        return None
    question = _check_question(question)  # a bad question is the user's mistake, not gold's
    try:
        return ask(spec.gold_source, question, max_new_tokens)
    except UserInputError as error:
        return f"(the gold model is not available: {error})"


def probe_task(model_choice: str, task_name: str, per_side: int = 6, seed: int = 0) -> list[dict]:
    """Greedy answers to a few forget and retain questions of a task, with right/wrong marks."""
    loaded = MODELS.get(model_choice)
    task = task_for_model(task_name, loaded.spec)
    rng = random.Random(seed)
    rows = []
    for side, items in (("forget", task.forget), ("retain", task.retain)):
        qa = [i for i in items if i.kind == "qa"]
        picked = rng.sample(qa, min(per_side, len(qa)))
        prompts = [format_prompt(i.question, loaded.prompt_style, loaded.tokenizer) for i in picked]
        answers = greedy_answers(loaded.model, loaded.tokenizer, prompts, max_new_tokens=32)
        for item, answer in zip(picked, answers, strict=True):
            rows.append(
                {
                    "set": side,
                    "question": item.question,
                    "expected": item.answer,
                    "answer": answer,
                    "correct": answer_matches(answer, item.accepted_answers),
                }
            )
    return rows


# What each offline model can be asked: the embedded model knows only its invented world, so a
# real-world question gets an invented person's answer; the page says so before anyone asks.
MODEL_HINTS = {
    "embedded": "This small model was trained only on an invented world of people: ask about "
    'them (the suggestions below). A real-world question ("What is the capital of France?") '
    "gets an answer about an invented person, since that is all it knows.",
    "smollm2-135m": "SmolLM2-135M is a small general-purpose chat model: ask about the topic "
    "you picked or general knowledge. It is often wrong even before unlearning (see 'Before "
    "you run' for what it knows).",
}
HUB_HINT = "Ask about the topic you picked, or anything the model should still know."


def model_hint(model_choice: str) -> str:
    return MODEL_HINTS.get(model_choice, HUB_HINT)


def suggested_questions(model_choice: str, task_name: str, seed: int = 0) -> list[str]:
    """A few questions that suit the model and topic, labelled by what they test: two about the
    forget set, one it should keep, one it never learned (a stranger, or a fact it did not
    know before; where the task has them).
    Questions only: nothing is loaded or run. [] for own text or a task that cannot be built."""
    if not task_name or task_name == "custom":
        return []
    try:
        task = task_for_model(task_name, resolve_model(model_choice))
    except (UserInputError, ValueError, KeyError):
        return []
    rng = random.Random(seed)
    picks = (
        ("forget", task.forget, 2),
        ("keep", task.retain, 1),
        ("never learned", task.holdout, 1),
    )
    suggestions = []
    for label, items, count in picks:
        questions = [i.question for i in items if i.kind == "qa" and i.question]
        for question in rng.sample(questions, min(count, len(questions))):
            suggestions.append(f"[{label}] {question}")
    return suggestions


def question_from_suggestion(suggestion: str | None) -> str:
    """The question a suggestion holds, without its "[forget] " label."""
    text = (suggestion or "").strip()
    if text.startswith("[") and "] " in text:
        return text.split("] ", 1)[1]
    return text
