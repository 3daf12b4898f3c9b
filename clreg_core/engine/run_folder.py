"""A run's folder: `report.json`, `points.jsonl`, the LoRA adapter and the user's own text.

The CLI and the app's downloads both write it here, so a run looks the same from either."""

from __future__ import annotations

import json
from pathlib import Path


def write_run_folder(out: Path, result, custom_text: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = result.report
    (out / "report.json").write_text(json.dumps(_jsonable(report), indent=1) + "\n")
    with open(out / "points.jsonl", "w", encoding="utf-8") as handle:
        for evaluation in report.get("history", {}).get("evaluations", []):
            handle.write(json.dumps({"step": evaluation["step"], **evaluation["points"]}) + "\n")
    if result.model is not None and result.status == "finished":
        # a sharded run's model holds only this process's shard: save the gathered weights
        whole = getattr(result, "adapter_state", None)
        result.model.save_pretrained(out / "adapter", safe_serialization=True, state_dict=whole)
    if custom_text is not None:
        (out / "custom_text.txt").write_text(custom_text, encoding="utf-8")


def _jsonable(value):
    """NaN and infinity are not JSON; write them as null and strings a reader can tell apart."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        if value != value:
            return None
        if value in (float("inf"), float("-inf")):
            return str(value)
    return value
