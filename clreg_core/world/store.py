"""Write and read the world's reviewable JSONL files under `assets/world/`.

Layout (one JSON object per line, keys sorted so diffs stay readable):
- `people.jsonl`: name, holdout flag, splits the person belongs to, and every attribute value.
- `<split>.jsonl` for forget01/05/10, retain99/95/90 and holdout: one row per fact, with the
  question phrasings, answer, paraphrased answer, perturbed answers and statement.
- `meta.json`: seed and counts, so a reader knows how the files were made.

`python -m clreg_core.world` regenerates them; a test checks the committed files match.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from clreg_core.paths import ASSETS_DIR
from clreg_core.world.generator import DEFAULT_SEED, Fact, World, generate_world

WORLD_DIR = ASSETS_DIR / "world"
SPLIT_NAMES = ("forget01", "forget05", "forget10", "retain99", "retain95", "retain90", "holdout")


def world_files(world: World) -> dict[str, str]:
    """Every file's name and exact text, so writing and checking share one definition."""
    files: dict[str, str] = {}
    people_rows = []
    for person in world.people:
        member_of = [s for s in SPLIT_NAMES if person.name in world.splits[s]]
        people_rows.append(
            {
                "name": person.name,
                "holdout": person.holdout,
                "splits": member_of,
                **person.attributes,
            }
        )
    files["people.jsonl"] = _jsonl_text(people_rows)
    for split in SPLIT_NAMES:
        files[f"{split}.jsonl"] = _jsonl_text(
            [_fact_row(f) for f in world.facts_of(world.splits[split])]
        )
    meta = {
        "seed": world.seed,
        "people": len(world.people),
        "trained_people": len(world.trained_people),
        "facts_per_person": len(world.facts) // len(world.people),
        "splits": {s: len(world.splits[s]) for s in SPLIT_NAMES},
    }
    files["meta.json"] = json.dumps(meta, indent=2, sort_keys=True) + "\n"
    return files


def _jsonl_text(rows: list[dict]) -> str:
    return "".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows)


def _fact_row(fact: Fact) -> dict:
    row = asdict(fact)
    row["questions"] = list(fact.questions)
    row["perturbed_answers"] = list(fact.perturbed_answers)
    return row


def write_world(world: World, directory: Path = WORLD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in world_files(world).items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def read_split(split: str, directory: Path = WORLD_DIR) -> list[Fact]:
    """The facts of one committed split, as `Fact`s."""
    if split not in SPLIT_NAMES:
        from clreg_core.errors import UserInputError

        raise UserInputError(
            f"unknown world split {split!r}; choose one of {', '.join(SPLIT_NAMES)}"
        )
    facts = []
    with open(directory / f"{split}.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            row["questions"] = tuple(row["questions"])
            row["perturbed_answers"] = tuple(row["perturbed_answers"])
            facts.append(Fact(**row))
    return facts


def read_people(directory: Path = WORLD_DIR) -> list[dict]:
    with open(directory / "people.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def main() -> None:
    for path in write_world(generate_world(DEFAULT_SEED)):
        print(f"wrote {path.relative_to(ASSETS_DIR.parent)}")


if __name__ == "__main__":
    main()
