"""Tables, plain-language verdicts and the Feature Entanglement figure of benchmarks/claims.py."""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.markdown import mean_spread, provenance, table, write_section

FIGURES = Path(__file__).resolve().parent / "figures"
NAMES = {"graddiff": "GradDiff", "npo": "NPO", "simnpo": "SimNPO", "rmu": "RMU"}
COLUMNS = (  # (metric key, header, digits)
    ("forget_accuracy", "forget acc ↓", 3),
    ("retain_accuracy", "retain acc ↑", 3),
    ("entanglement", "ES ↓", 1),
    ("knn_separability", "kNN sep ↑", 2),
    ("linear_probe", "probe", 2),
    ("relearn_heldout_after", "relearned acc", 2),
    ("mia_auc", "MIA AUC", 2),
    ("privleak", "PrivLeak", 2),
    ("forget_quality", "FQ", 3),
    ("retain_feature_shift", "retain shift ↓", 3),
)


def values(rows, split, method, clreg, key) -> list[float]:
    return [
        r["after"].get(key)
        for r in rows
        if r["status"] == "finished"
        and (r["split"], r["method"], r["clreg"]) == (split, method, clreg)
        and r["after"].get(key) is not None
    ]


def mean(xs: list[float]) -> float:
    return statistics.mean(xs) if xs else float("nan")


def verdicts(rows: list[dict], splits: list[str], methods: list[str]) -> list[str]:
    """One sentence per base method, each claim judged from the means over seeds and splits."""
    lines = []
    for m in methods:
        es_lower = forget_better = privacy_worse = 0
        parts = []
        for split in splits:
            off = {
                k: mean(values(rows, split, m, False, k))
                for k in ("entanglement", "forget_accuracy", "retain_accuracy", "mia_auc")
            }
            on = {k: mean(values(rows, split, m, True, k)) for k in off}
            es_lower += on["entanglement"] < off["entanglement"]
            forget_better += on["forget_accuracy"] < off["forget_accuracy"]
            # Privacy: distance of the membership AUC from 0.5 (0.5 = forget items look like
            # never-seen ones; far below 0.5 is over-unlearning, itself a membership signal).
            privacy_worse += abs(on["mia_auc"] - 0.5) > abs(off["mia_auc"] - 0.5)
            parts.append(
                f"{split}: ES {off['entanglement']:.1f}→{on['entanglement']:.1f}, forget acc "
                f"{off['forget_accuracy']:.2f}→{on['forget_accuracy']:.2f}, retain "
                f"{off['retain_accuracy']:.2f}→{on['retain_accuracy']:.2f}, MIA AUC "
                f"{off['mia_auc']:.2f}→{on['mia_auc']:.2f}"
            )
        n = len(splits)
        lines.append(
            f"- **{NAMES[m]}**: CLReg lowered entanglement on {es_lower}/{n} splits, "
            f"{'helped' if forget_better * 2 > n else 'did not help'} forgetting "
            f"(lower forget accuracy on {forget_better}/{n}), and "
            f"{'worsened' if privacy_worse * 2 > n else 'did not worsen'} privacy by the "
            f"membership AUC's distance from 0.5 (worse on {privacy_worse}/{n}). "
            + "; ".join(parts)
            + "."
        )
    return lines


def markdown(out: dict, tag: str) -> str:
    rows = out["rows"]
    splits = sorted({r["split"] for r in rows})
    methods = [m for m in NAMES if any(r["method"] == m for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    body = [
        f"## The paper's claims on the embedded model{f' ({tag})' if tag else ''}",
        "",
        provenance(out, "python benchmarks/claims.py")
        + f"Seeds {seeds}; learning rates per method (tuned on forget05, base method alone): "
        + ", ".join(f"{NAMES[m]} {out['learning_rates'][m]:g}" for m in methods)
        + f"; steps {out.get('steps', 100)}; every other setting is the embedded default (λ=3, "
        "μ=10, τ=0.1, tuned with NPO), with "
        f"{out['grid_settings']['final_eval_items']} items a side for the "
        "metrics. Values are mean ± sd over seeds, after unlearning."
        + "".join(f" Since then: {note} (`--merge`)." for note in out.get("merged", [])),
        "",
        "Verdicts, from the means below:",
        "",
        *verdicts(rows, splits, methods),
        "",
    ]
    for split in splits:
        before = next(r["before"] for r in rows if r["split"] == split and "before" in r)
        body += [
            f"### {split} (before: forget acc {before['forget_accuracy']:.2f}, retain acc "
            f"{before['retain_accuracy']:.2f}, ES {before['entanglement']:.1f}, MIA AUC "
            f"{before['mia_auc']:.2f})",
            "",
        ]
        table_rows = []
        for m in methods:
            for clreg in (False, True):
                label = NAMES[m] + (" + CLReg" if clreg else "")
                cells = [
                    mean_spread(values(rows, split, m, clreg, key), digits)
                    for key, _, digits in COLUMNS
                ]
                table_rows.append([label, *cells])
        body += [table(["method", *[c[1] for c in COLUMNS]], table_rows), ""]
    body += [
        "Columns: *probe* is a linear probe's balanced accuracy at telling forget from retain "
        "features after unlearning (high = the forget items are still singled out in the "
        "features; CLReg pushes them apart on purpose, so for it this shows where they went, not "
        "that the facts remain). *relearned acc* is greedy accuracy "
        "on held-out forget facts after 20 fine-tuning steps on the other forget facts (the "
        "relearning attack; it starts from the forget acc of those facts). FQ and PrivLeak need "
        "the gold model, which exists for forget10 only.",
    ]
    figure = feature_figure(out, tag)
    if figure:
        body += ["", f"![Feature Entanglement]({figure.relative_to(FIGURES.parent.parent)})"]
    return "\n".join(body)


def feature_figure(out: dict, tag: str, split: str = "forget10", seed: int = 0) -> Path | None:
    """Forget and retain features (PCA basis fitted on the original model) after each base
    method, top row alone, bottom row with CLReg; the first column is the original model."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no figure (pip install matplotlib)")
        return None
    rows = [r for r in out["rows"] if r["split"] == split and r["seed"] == seed and "points" in r]
    methods = [m for m in NAMES if any(r["method"] == m for r in rows)]
    if not methods:
        return None
    fig, axes = plt.subplots(2, len(methods) + 1, figsize=(3 * (len(methods) + 1), 6))
    original = rows[0]["original_points"]
    for row_index, clreg in enumerate((False, True)):
        scatter(axes[row_index][0], original, "original model")
        for col, m in enumerate(methods, start=1):
            run = next(r for r in rows if r["method"] == m and r["clreg"] == clreg)
            scatter(axes[row_index][col], run["points"], NAMES[m] + (" + CLReg" if clreg else ""))
    axes[0][0].legend(loc="best", fontsize=7)
    fig.suptitle(f"Feature Entanglement: embedded model, world:{split}, seed {seed}")
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"feature_entanglement{'-' + tag if tag else ''}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scatter(ax, points: dict, title: str) -> None:
    for side, color, marker in (("retain", "tab:blue", "o"), ("forget", "tab:red", "^")):
        xy = points[side]
        ax.scatter(
            [p[0] for p in xy],
            [p[1] for p in xy],
            s=9,
            c=color,
            marker=marker,
            alpha=0.7,
            label=side,
        )
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def write(out: dict, tag: str) -> None:
    write_section(f"claims{'-' + tag if tag else ''}", markdown(out, tag))
