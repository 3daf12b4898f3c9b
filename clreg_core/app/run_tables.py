"""The before/after tables of finished runs, as plain rows for any table widget.

Each metric carries a one-line meaning in plain words, and `NOT_PROVEN` says what the numbers
do not show, so a class or a first-time visitor reads them the right way.
"""

from __future__ import annotations

from collections.abc import Sequence

from clreg_core.app.run_state import RunState

# (report key, shown name, plain-language meaning); the order is the table's.
METRICS: tuple[tuple[str, str, str], ...] = (
    ("forget_accuracy", "forget accuracy",
     "share of forget questions whose answer still contains the fact (lower = forgotten)"),
    ("retain_accuracy", "retain accuracy",
     "share of retain questions still answered right (higher = knowledge kept)"),
    ("forget_answer_prob", "forget answer probability",
     "how likely the model finds the true forget answers (lower = less memorised)"),
    ("retain_answer_prob", "retain answer probability",
     "how likely the model finds the true retain answers (should stay high)"),
    ("entanglement", "entanglement score",
     "how mixed forget and retain representations are at the CLReg layer (lower = apart)"),
    ("knn_separability", "kNN separability",
     "how well 10 nearest neighbours tell forget from retain points (0.5 mixed, 1 apart)"),
    ("linear_probe", "linear probe accuracy",
     "can a linear classifier still find the forget items in the features? (0.5 = no)"),
    ("retain_feature_shift", "retain feature shift",
     "how far retain representations moved (0 = not at all)"),
    ("mia_auc", "membership inference AUC",
     "can a loss threshold tell forget items from never-seen ones? (0.5 = no, 1 = always)"),
    ("forget_quality", "forget quality",
     "p-value that the model matches one never trained on the forget set (higher = closer)"),
    ("privleak", "PrivLeak",
     "membership signal relative to the retrained model, in % (0 = same as never trained)"),
)  # fmt: skip

NOT_PROVEN = """**What this does not prove.** A low forget accuracy only shows the model no longer
*says* the facts; the knowledge can still sit in its weights and come back with a little
fine-tuning or a rephrased question (suppression, not removal). A lower entanglement score shows
the representations moved apart at the measured layer, not at every layer, and not that the
knowledge is gone. Answers that collapse into a repeated word are not forgetting done well: a
model that never saw these facts would give a fluent, wrong answer. They mean the model was
pushed past forgetting, and a membership AUC well below 0.5 says the same (the forget items now
look *less* familiar than text it never saw, itself a tell). The numbers come from a few hundred
questions of one run and one seed: small differences between runs are noise until repeated with
other seeds."""


def _format(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def finished(runs: Sequence[RunState]) -> list[RunState]:
    return [r for r in runs if r.status == "finished" and r.report and "metrics" in r.report]


def metrics_table(runs: Sequence[RunState]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: metric, before, after (one column per finished run), meaning."""
    done = finished(runs)
    if not done:
        return ["metric", "before", "after", "what it means"], []
    before = done[0].report["metrics"]["before"]
    headers = ["metric", "before", *[f"after {r.label}" for r in done], "what it means"]
    rows = []
    for key, name, meaning in METRICS:
        if key not in before and not any(key in r.report["metrics"]["after"] for r in done):
            continue
        after = [_format(r.report["metrics"]["after"].get(key)) for r in done]
        rows.append([name, _format(before.get(key)), *after, meaning])
    return headers, rows


def generations_table(runs: Sequence[RunState]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: set, prompt, expected, answer before, answer after each finished run.

    Runs of an A/B pair share their seed and data, so they probe the same prompts; rows are
    matched on (set, prompt)."""
    done = finished(runs)
    headers = ["set", "prompt", "expected", "before", *[f"after {r.label}" for r in done]]
    if not done:
        return ["set", "prompt", "expected", "before", "after"], []
    rows = []
    for row in done[0].report.get("generations", []):
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
        rows.append([row["set"], row["prompt"], row["expected"], row["before"], *afters])
    return headers, rows
