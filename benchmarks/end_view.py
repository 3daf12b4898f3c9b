"""Does the end view of a default run show one clump per forget person, away from retain?

    python benchmarks/end_view.py               # seeds 0 and 1
    python benchmarks/end_view.py --seeds 0 1 2

The paper's "feature entanglement" figure shows, after CLReg, many small clumps (one per forget
entity) pushed away from the retain features. The app's end view (app/paper_view.py) draws the
same picture: a 2-D embedding (UMAP or t-SNE) of the live view's forget and retain items at the
CLReg layer, for the original and the unlearned model. This benchmark trains the default
embedded run and puts numbers on what that picture shows, before and after:

- *same person*: of each forget point's 3 nearest forget neighbours, the share about the same
  person (chance: about 1 in 20 here), in the features and in the 2-D embedding: clumps per
  person;
- *same side*: of each point's 3 nearest neighbours among all points, the share on its own side
  (forget or retain): how far apart the two sides lie (0.5-ish when mixed, 1.0 when apart).

Writes results/end_view.json and the "End view" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.markdown import describe_machine, table, write_section  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "end_view.json"
NEIGHBOURS = 3


def same_label_share(points: np.ndarray, labels: list[str], k: int = NEIGHBOURS) -> float:
    """Mean share of each point's k nearest neighbours (Euclidean) that carry its label."""
    labels_array = np.asarray(labels)
    distances = ((points[:, None] - points[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, 1)[:, :k]
    return float((labels_array[nearest] == labels_array[:, None]).mean())


def chance_same_person(groups: list[str]) -> float:
    """The same-person share a random neighbour would give."""
    groups_array = np.asarray(groups)
    return float(np.mean([(groups_array == g).sum() - 1 for g in groups_array]) / (len(groups) - 1))


def measure_seed(seed: int) -> dict:
    from clreg_core.app.figures import embed_2d
    from clreg_core.config import default_config
    from clreg_core.engine.evaluation import Measurer, sample_items
    from clreg_core.engine.lora import resolve_layer
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.engine.training import run_unlearning
    from clreg_core.models.loading import load_model

    config = default_config("embedded", seed=seed)
    loaded = load_model("embedded")
    task = task_for_model(config.task, loaded.spec)
    result = run_unlearning(config, task=task, loaded=loaded)
    measurer = Measurer.for_run(result.model, loaded, config)
    layer = resolve_layer(result.model, config.feature_layer)
    # the end view's items: the live view's seeded sample (app/paper_view.py)
    forget = sample_items(task.forget, config.eval_items, config.seed)
    retain = sample_items(task.retain, config.eval_items, config.seed + 1)
    groups = [item.group for item in forget]
    row: dict = {"seed": seed, "kept_step": result.report["parity"]["kept_step"]}
    for name, adapter in (("before", False), ("after", True)):
        zf = measurer.forced(measurer.encode(forget), [layer], adapter).features[layer]
        zr = measurer.forced(measurer.encode(retain), [layer], adapter).features[layer]
        xy, method = embed_2d(np.concatenate([zf, zr]), seed)
        sides = ["forget"] * len(zf) + ["retain"] * len(zr)
        row[name] = {
            "same_person_features": same_label_share(zf, groups),
            "same_person_2d": same_label_share(xy[: len(zf)], groups),
            "same_side_2d": same_label_share(xy, sides),
        }
        row["embedding"] = method
    row["chance_same_person"] = chance_same_person(groups)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    started = time.perf_counter()
    rows = [measure_seed(seed) for seed in args.seeds]
    minutes = (time.perf_counter() - started) / 60
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=1)
    )

    def cell(row: dict, key: str) -> str:
        return f"{row['before'][key]:.2f} → {row['after'][key]:.2f}"

    lines = [
        [
            r["seed"],
            r["kept_step"],
            cell(r, "same_person_features"),
            cell(r, "same_person_2d"),
            f"{r['chance_same_person']:.2f}",
            cell(r, "same_side_2d"),
        ]
        for r in rows
    ]
    seeds = " ".join(str(s) for s in args.seeds)
    body = (
        "## End view: one clump per forget person, away from retain\n\n"
        f"{time.strftime('%Y-%m-%d %H:%M')}, {describe_machine('cpu')}; "
        f"`python benchmarks/end_view.py --seeds {seeds}` took {minutes:.1f} min. The default "
        "embedded run (NPO + CLReg with retain negatives, stopped by the parity rule), measured "
        f"on the end view's items (the live view's 64 a side) at the CLReg layer; 2-D is "
        f"{rows[0]['embedding']}, as the app draws it. Before → after unlearning.\n\n"
        + table(
            [
                "seed",
                "kept step",
                "same person, features",
                "same person, 2-D",
                "chance",
                "same side, 2-D",
            ],
            lines,
        )
        + f"\n\n*same person*: of each forget point's {NEIGHBOURS} nearest forget neighbours, "
        "the share about the same person (clumps per person). *same side*: of each point's "
        f"{NEIGHBOURS} nearest neighbours among all points, the share on its own side, forget or "
        "retain (about 0.5 when mixed, 1.0 when apart).\n"
    )
    write_section("end-view", body)
    print(body)


if __name__ == "__main__":
    main()
