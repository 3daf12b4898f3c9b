"""What a model knows of each topic pack before unlearning: ask it every pack question.

A forget topic only shows forgetting if the model knew it first; pack tasks then keep the items
the model got right (`data.topic_packs.known_answers` reads the file this writes).

    python -m clreg_core.engine.knowledge --probe smollm2-135m
"""

from __future__ import annotations

import argparse
import json

from clreg_core.data.topic_packs import knowledge_path, load_pack, pack_index
from clreg_core.engine.generation import answer_matches, greedy_answers
from clreg_core.models.loading import load_model
from clreg_core.prompting import format_prompt


def probe_knowledge(model_key: str) -> dict:
    """Ask the model every pack question (greedy, its own prompt style) and record which it gets
    right; writes `knowledge-<model>.json` and returns the per-pack accuracy."""
    loaded = load_model(model_key)
    rows, per_pack = [], {}
    for pack in pack_index():
        items = [i for i in load_pack(pack["id"]) if i.kind == "qa"]
        prompts = [format_prompt(i.question, loaded.prompt_style, loaded.tokenizer) for i in items]
        answers = greedy_answers(
            loaded.model, loaded.tokenizer, prompts, max_new_tokens=32, batch_size=32
        )
        hits = [answer_matches(a, i.accepted_answers) for a, i in zip(answers, items, strict=True)]
        per_pack[pack["id"]] = {
            "accuracy": round(sum(hits) / len(hits), 4),
            "known": sum(hits),
            "items": len(hits),
        }
        rows += [
            {"pack": pack["id"], "question": i.question, "answer": a, "correct": h}
            for i, a, h in zip(items, answers, hits, strict=True)
        ]
    result = {"model": model_key, "max_new_tokens": 32, "per_pack": per_pack, "items": rows}
    knowledge_path(model_key).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    return per_pack


def main() -> None:
    parser = argparse.ArgumentParser(description="Probe what a model knows of each topic pack.")
    parser.add_argument("--probe", default="smollm2-135m", help="model key from the registry")
    args = parser.parse_args()
    print(json.dumps(probe_knowledge(args.probe), indent=2))


if __name__ == "__main__":
    main()
