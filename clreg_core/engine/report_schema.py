"""What a report's numbers mean and which items produced them: report["schema"] and
report["evaluation_sizes"]. The prose lives in docs/report.md; its metric tables are generated
from clreg_core/metrics/meanings.py by

    python -m clreg_core.engine.report_schema --write

(without --write it prints them), so the doc, the report and the app's table say the same.
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from clreg_core.engine.assessment import GOLD_RETAIN, Assessment, Snapshot
from clreg_core.engine.evaluation import qa_only
from clreg_core.engine.live import LiveView
from clreg_core.engine.provenance import REPO_ROOT
from clreg_core.metrics.meanings import LIVE_ONLY, METRICS, REPORT_ONLY, meanings

REPORT_DOC = "docs/report.md"
SCHEMA_VERSION = 1
BEGIN, END = "<!-- metric meanings: begin -->", "<!-- metric meanings: end -->"


def schema() -> dict[str, Any]:
    """report["schema"]: where the report is described, and what every metric key means."""
    return {
        "doc": REPORT_DOC,
        "version": SCHEMA_VERSION,
        "metrics": meanings(METRICS + REPORT_ONLY),  # metrics.before / after / gold
        "live_metrics": meanings(LIVE_ONLY),  # history.evaluations[i].metrics, parity; the
        # other live keys mean what `metrics` says, on the live items
    }


def live_sizes(live: LiveView, requested: int) -> dict[str, Any]:
    """The items every live evaluation measures (the same ones each time)."""
    return {
        "feeds": "history.evaluations, parity",
        "requested_per_side": requested,  # config.eval_items
        "forget_items": len(live.forget),
        "retain_items": len(live.retain),
        "holdout_items": len(live.holdout),
        "forget_questions": len(live.forget_questions),  # answered greedily (forget_accuracy)
        "holdout_questions": len(live.holdout_questions),  # the chance level, at step 0
    }


def final_sizes(assessment: Assessment, requested: int, before: Snapshot) -> dict[str, Any]:
    """The items the before/after measurement used (the same ones before and after)."""
    return {
        "feeds": "metrics.before, metrics.after, generations (before/after)",
        "requested_per_side": requested,  # config.final_eval_items
        "forget_items": len(assessment.forget),
        "retain_items": len(assessment.retain),
        "holdout_items": len(assessment.holdout),
        "forget_questions": len(qa_only(assessment.forget)),
        "retain_questions": len(qa_only(assessment.retain)),
        "truth_ratio_facts": _count(before.truth_ratios),
        "membership_measured": assessment.membership_measurable,
    }


def gold_sizes(assessment: Assessment, before: Snapshot) -> dict[str, Any]:
    """The items the gold model was measured on: the final measurement's, fewer retain ones."""
    return {
        "feeds": "metrics.gold, generations (gold), forget_quality and privleak",
        "forget_items": len(assessment.forget),
        "retain_items": len(assessment.retain),  # representations (one forced pass)
        "holdout_items": len(assessment.holdout) if assessment.membership_measurable else 0,
        "forget_questions": len(qa_only(assessment.forget)),
        "retain_questions": min(GOLD_RETAIN, len(qa_only(assessment.retain))),  # answers only
        "truth_ratio_facts": _count(before.truth_ratios),
    }


def gold_measured(gold: dict) -> bool:
    return any(key != "unavailable" for key in gold)


def _count(values) -> int:
    return 0 if values is None else len(values)


def metrics_markdown() -> str:
    """docs/report.md's metric tables, from the meanings table."""

    def table(rows) -> str:
        lines = ["| key | name | good when | meaning |", "|---|---|---|---|"]
        lines += [f"| `{k}` | {n} | {g} | {m} |" for k, n, g, m in rows]
        return "\n".join(lines)

    return (
        "Shown in the app's before/after table (`METRICS`):\n\n"
        f"{table(METRICS)}\n\n"
        "In report.json only (`REPORT_ONLY`):\n\n"
        f"{table(REPORT_ONLY)}\n\n"
        "Only in the live evaluations and the parity summary (`LIVE_ONLY`):\n\n"
        f"{table(LIVE_ONLY)}"
    )


def doc_with_tables(doc: str) -> str:
    """The doc with the text between its markers replaced by the generated tables."""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(doc):
        raise ValueError(f"{REPORT_DOC} has no {BEGIN} ... {END} markers")
    return pattern.sub(lambda _: f"{BEGIN}\n{metrics_markdown()}\n{END}", doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {REPORT_DOC} in place")
    args = parser.parse_args(argv)
    if not args.write:
        print(metrics_markdown())
        return 0
    path = REPO_ROOT / REPORT_DOC
    path.write_text(doc_with_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
