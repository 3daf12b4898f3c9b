"""The before/after tables of finished runs, as plain rows for any table widget.

Each metric carries which way is good and a one-line meaning in plain words, and `NOT_PROVEN`
says what the numbers do not show, so a class or a first-time visitor reads them the right way.
Where the model has a gold twin (retrained without the forget set), its values and answers get
a column of their own: that is the target, not zero.
"""

from __future__ import annotations

from collections.abc import Sequence

from clreg_core.app.run_state import RunState, parity_text
from clreg_core.metrics.meanings import METRICS, WITHOUT_GOLD  # the table's rows, in order
from clreg_core.metrics.parity import reference_words

GOLD_COLUMN = "gold (never saw the forget set)"
GOLD_ANSWER_COLUMN = "gold model (never saw the forget set)"
PARITY_ROW = (
    "parity (looks never trained)",
    "reached; going past it = over-unlearned",
    "did the forget people end up looking like people the model never saw? (live forget vs "
    "holdout membership AUC and accuracy; where training stopped, which step was kept)",
)
# A topic pack or own text: no strangers of the kind, no AUC; parity is the distance to the band
PARITY_ROW_WITHOUT_AUC = (
    "parity (looks never learned)",
    "reached: distance to the band at most 1",
    "did the forget questions end up answered like ones the model never knew? (live forget "
    "accuracy vs the never-learned level, fluency and retain kept; where training stopped, "
    "which step was kept)",
)

NOT_PROVEN = """**What this does not prove.** A low forget accuracy only shows the model no longer
*says* the facts; the knowledge can still sit in its weights and come back with a little
fine-tuning or a rephrased question (suppression, not removal). A lower entanglement score shows
the representations moved apart at the measured layer, not at every layer, and not that the
knowledge is gone: representation rows are read against a model that never saw the forget set
(gold), which also tells unknown people from known ones, and forget features pushed further from
retain than gold puts them are a new shape, not removal. Representation membership asks the
deeper question: can the features tell forget people from strangers (0.5 = no)? Answers that
collapse into a repeated word are not forgetting done well: a model that never saw these facts
would give a fluent, wrong answer. They mean the model was
pushed past forgetting, and a membership AUC well below 0.5 says the same (the forget items now
look *less* familiar than text it never saw, itself a tell). The numbers come from a few hundred
questions of one run and one seed: small differences between runs are noise until repeated with
other seeds. The target is a model that never saw the forget set (the gold column, where there
is one): a forget score below the gold model's is not better, it is a different tell."""


NO_PRIVACY_ROWS = (
    "No privacy rows here (membership AUC, Forget Quality, PrivLeak): this topic has no "
    "never-learned items written like its forget items, so a membership test would compare "
    "unlike texts and its AUC would mean nothing. What is said above of the AUC applies to "
    "topics that have them (the embedded model's world splits)."
)


NO_GOLD_REPRESENTATIONS = (
    "No model that never saw the forget set (gold) is at hand for this model and topic, so the "
    "representation rows (entanglement, kNN, the forget-vs-retain probe) have nothing to be read "
    "against. A model that never saw the forget items tells them from known ones too (the "
    "embedded model's gold twin does), so a low entanglement or a probe near 1 does not say "
    "whether they now sit where never-seen items would. Representation membership, where "
    "measured, has its reference: 0.5."
)


def table_note(runs: Sequence[RunState]) -> str:
    """The note under the metrics table: what the numbers do not prove, and why a gold column is
    missing where the model has a gold twin that could not be measured."""
    done = finished(runs)
    if not done:
        return ""
    note = NOT_PROVEN
    if not any("mia_auc" in r.report["metrics"].get("after", {}) for r in done):
        note += f"\n\n*{NO_PRIVACY_ROWS}*"
    missing = next((r.report["metrics"].get("gold", {}).get("unavailable") for r in done), None)
    if missing and not gold_metrics(done):
        note += f"\n\n*The gold model could not be measured: {missing}*"
    if not gold_metrics(done):
        note += f"\n\n*{NO_GOLD_REPRESENTATIONS}*"
    return note


def _format(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # missing or NaN
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def finished(runs: Sequence[RunState]) -> list[RunState]:
    return [r for r in runs if r.status == "finished" and r.report and "metrics" in r.report]


def gold_metrics(runs: Sequence[RunState]) -> dict:
    """The gold model's own metrics (report["metrics"]["gold"]) where a finished run has them;
    {} where the model has no gold twin for this task or it could not be loaded."""
    for run in finished(runs):
        gold = run.report["metrics"].get("gold") or {}
        if any(k != "unavailable" for k in gold):
            return gold
    return {}


def _parity_cell(run: RunState) -> str:
    parity = run.parity or run.report.get("parity")
    return parity_text(parity) if parity else "–"


def metrics_table(runs: Sequence[RunState]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: metric, before, after (one column per finished run), the gold model's
    value where one exists, which way is good, and what it means. A last row says where each
    run stopped with respect to retrain parity."""
    done = finished(runs)
    if not done:
        return ["metric", "before", "after", "good when", "what it means"], []
    before = done[0].report["metrics"]["before"]
    gold = gold_metrics(done)
    gold_header = [GOLD_COLUMN] if gold else []
    headers = ["metric", "before", *[f"after {r.label}" for r in done], *gold_header]
    headers += ["good when", "what it means"]
    rows = []
    uses_auc = all(run.parity_uses_auc() for run in done)
    reference, others = reference_words(uses_auc)
    for key, name, good, meaning in METRICS:
        if key not in before and not any(key in r.report["metrics"]["after"] for r in done):
            continue
        after = [_format(r.report["metrics"]["after"].get(key)) for r in done]
        gold_cell = [_format(gold.get(key))] if gold else []
        if not gold:  # nothing to read "gold's" against: say what the target is instead
            good = WITHOUT_GOLD.get(key, good).format(reference=reference, others=others)
        rows.append([name, _format(before.get(key)), *after, *gold_cell, good, meaning])
    if any(r.parity or r.report.get("parity") for r in done):
        name, good, meaning = PARITY_ROW if uses_auc else PARITY_ROW_WITHOUT_AUC
        gold_cell = ["at parity by definition"] if gold else []
        rows.append([name, "–", *[_parity_cell(r) for r in done], *gold_cell, good, meaning])
    return headers, rows


def generations_table(runs: Sequence[RunState]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: set, prompt, expected, answer before, answer after each finished run,
    and the gold model's answer where one exists (what an unlearned model should sound like).

    Runs of an A/B pair share their seed and data, so they probe the same prompts; rows are
    matched on (set, prompt)."""
    done = finished(runs)
    if not done:
        return ["set", "prompt", "expected", "before", "after"], []
    first = done[0].report.get("generations", [])
    gold = any("gold" in row for row in first)
    headers = ["set", "prompt", "expected", "before", *[f"after {r.label}" for r in done]]
    headers += [GOLD_ANSWER_COLUMN] if gold else []
    rows = []
    for row in first:
        afters = []
        for run in done:
            match = next(
                (
                    g
                    for g in run.report.get("generations", [])
                    if (g["set"], g["prompt"]) == (row["set"], row["prompt"])
                ),
                None,
            )
            afters.append(match["after"] if match else "–")
        gold_cell = [row.get("gold", "–")] if gold else []
        rows.append(
            [row["set"], row["prompt"], row["expected"], row["before"], *afters, *gold_cell]
        )
    return headers, rows


RUNS_HEADERS = ["#", "run", "model", "topic", "stopped", "forget acc.", "retain acc.",
                "entanglement", "membership AUC"]  # fmt: skip


def _before_after(report: dict, key: str) -> str:
    metrics = report.get("metrics", {})
    before, after = metrics.get("before", {}).get(key), metrics.get("after", {}).get(key)
    if before is None and after is None:
        return "–"
    return f"{_format(before)} → {_format(after)}"


def runs_list(runs: Sequence[RunState]) -> list[list[str]]:
    """One row per finished run of this tab (numbered from 1): its settings in short and its
    headline numbers before → after, to pick runs to reopen or compare."""
    rows = []
    for number, run in enumerate(runs, start=1):
        config, report = run.config, run.report or {}
        parity = report.get("parity")
        settings = f"lr {config.learning_rate:g}, seed {config.seed}"
        if config.clreg:
            settings = f"λ {config.clreg_weight:g}, {settings}"
        rows.append(
            [
                str(number),
                f"{run.label} ({settings})",
                config.model,
                config.task,
                parity_text(parity) if parity else f"all {run.step} steps",
                _before_after(report, "forget_accuracy"),
                _before_after(report, "retain_accuracy"),
                _before_after(report, "entanglement"),
                _before_after(report, "mia_auc"),
            ]
        )
    return rows


def run_choice_labels(runs: Sequence[RunState]) -> list[tuple[str, str]]:
    """(label, value) pairs for the runs picker: "#2 NPO + CLReg · world:forget10"."""
    return [(f"#{n} {r.label} · {r.config.task}", str(n)) for n, r in enumerate(runs, start=1)]
