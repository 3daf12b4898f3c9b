"""Tables, plain-language verdicts and the Feature Entanglement figure of benchmarks/claims.py."""

from __future__ import annotations

import statistics
from pathlib import Path

from benchmarks.markdown import mean_spread, provenance, table, write_section

FIGURES = Path(__file__).resolve().parent / "figures"
NAMES = {"graddiff": "GradDiff", "npo": "NPO", "simnpo": "SimNPO", "rmu": "RMU"}
VARIANTS = {  # row variant -> label suffix
    "base": "",
    "clreg": " + CLReg",
    "anchor_only": " + anchor only (λ = 0)",
    "contrast_only": " + contrast only (μ = 0)",
}
COLUMNS = (  # (metric key, header, digits)
    ("forget_accuracy", "forget acc ↓", 3),
    ("retain_accuracy", "retain acc ↑", 3),
    ("entanglement", "ES ↓", 1),
    ("knn_separability", "kNN sep ↑", 2),
    ("linear_probe", "probe", 2),
    ("relearn_heldout_after", "relearned acc ↓", 2),
    ("mia_auc", "MIA AUC (0.5)", 2),
    ("privleak", "PrivLeak (0)", 2),
    ("forget_quality", "FQ ↑", 3),
    ("forget_degenerate", "degenerate ↓", 2),
    ("forget_ill_formed", "not well-formed ↓", 2),
    ("retain_feature_shift", "retain shift ↓", 3),
)
# What each verdict weighs, and which way is better for CLReg: -1 lower, +1 higher, 0 closer to
# zero (after `transform`). Every one is named in every verdict, for or against CLReg.
CLAIMS = (  # (metric key, name in the verdict, better, transform)
    ("entanglement", "entanglement", -1, None),
    ("forget_accuracy", "forget accuracy", -1, None),
    ("retain_accuracy", "retain accuracy", +1, None),
    ("mia_auc", "membership AUC's distance from 0.5", -1, lambda v: abs(v - 0.5)),
    ("privleak", "|PrivLeak|", -1, abs),
    ("forget_quality", "Forget Quality", +1, None),
    ("relearn_heldout_after", "accuracy after the relearning attack", -1, None),
    ("forget_degenerate", "degenerate forget answers", -1, None),
    ("forget_ill_formed", "forget answers not well-formed", -1, None),
)


def variant_of(row: dict) -> str:
    return row.get("variant") or ("clreg" if row["clreg"] else "base")


def by_seed(rows, split, method, variant, key) -> dict[int, float]:
    return {
        r["seed"]: r["after"][key]
        for r in rows
        if r["status"] == "finished"
        and (r["split"], r["method"], variant_of(r)) == (split, method, variant)
        and r["after"].get(key) is not None
    }


def values(rows, split, method, variant, key) -> list[float]:
    return list(by_seed(rows, split, method, variant, key).values())


def mean(xs: list[float]) -> float:
    return statistics.mean(xs) if xs else float("nan")


def compare(off: dict[int, float], on: dict[int, float], better: int, transform=None) -> str:
    """'better', 'worse' or 'unclear' for CLReg on one metric and split.

    A difference counts only when it goes the same way in every seed (paired by seed) or the
    difference of the means exceeds the larger of the two seed spreads (sd over seeds)."""
    seeds = sorted(set(off) & set(on))
    if not seeds:
        return "unmeasured"
    f = transform or (lambda v: v)
    a, b = [f(off[s]) for s in seeds], [f(on[s]) for s in seeds]
    diffs = [(y - x) * (better or -1) for x, y in zip(a, b, strict=True)]  # > 0: CLReg better
    spread = max(statistics.stdev(a), statistics.stdev(b)) if len(seeds) > 1 else 0.0
    gap = mean(diffs)
    if all(d > 0 for d in diffs) or (len(seeds) > 1 and gap > spread):
        return "better"
    if all(d < 0 for d in diffs) or (len(seeds) > 1 and -gap > spread):
        return "worse"
    return "unclear"


def verdicts(
    rows: list[dict], splits: list[str], methods: list[str], parity: bool = False
) -> list[str]:
    """Per base method: for every claimed metric, on how many held-out splits CLReg (or an
    ablation) was clearly better, clearly worse, or within the seed spread, with the means."""
    lines = []
    against = "base"
    for m in methods:
        for variant in [v for v in VARIANTS if v != against]:
            if not any(variant_of(r) == variant and r["method"] == m for r in rows):
                continue
            judged = []
            for key, name, better, transform in CLAIMS:
                outcome = {"better": [], "worse": [], "unclear": []}
                means = []
                for split in splits:
                    off = by_seed(rows, split, m, against, key)
                    on = by_seed(rows, split, m, variant, key)
                    result = compare(off, on, better, transform)
                    if result == "unmeasured":
                        continue
                    outcome[result].append(split)
                    means.append(f"{mean(list(off.values())):.3g}→{mean(list(on.values())):.3g}")
                if means:
                    judged.append(_judged(name, outcome, means))
            if parity:
                reached = _reached(rows, splits, m, against), _reached(rows, splits, m, variant)
                judged.append(
                    f"reached parity in {reached[0]} runs ({NAMES[m] + VARIANTS[against]}) and "
                    f"{reached[1]} ({NAMES[m] + VARIANTS[variant]})"
                )
            label = NAMES[m] + VARIANTS[variant]
            lines.append(
                f"- **{label}** vs {NAMES[m] + VARIANTS[against]}: " + "; ".join(judged) + "."
            )
    return lines


def _reached(rows, splits, method, variant) -> str:
    """'k/n': how many runs of a parity grid reached the band."""
    runs = [
        r
        for r in rows
        if r["split"] in splits and (r["method"], variant_of(r)) == (method, variant)
    ]
    hits = sum(1 for r in runs if (r.get("parity") or {}).get("reached_at"))
    return f"{hits}/{len(runs)}"


def _judged(name: str, outcome: dict[str, list[str]], means: list[str]) -> str:
    n = sum(len(v) for v in outcome.values())
    counts = ", ".join(f"{word} on {len(outcome[word])}/{n}" for word in outcome if outcome[word])
    return f"{name} {counts} ({', '.join(means)})"


def markdown(out: dict, name: str) -> str:
    rows = out["rows"]
    splits = sorted({r["split"] for r in rows})
    tuning_split = out.get("tuning_split", "forget05")
    held_out = [s for s in splits if s != tuning_split]
    methods = [m for m in NAMES if any(r["method"] == m for r in rows)]
    seeds = sorted({r["seed"] for r in rows})
    parity = out.get("stop_at") == "parity"
    tag = name.removeprefix("claims").removeprefix("-parity").removeprefix("-")
    title = (
        "## The paper's claims at equal forgetting (every run stopped at parity)"
        if parity
        else "## The paper's claims on the embedded model, all steps (over-unlearning contrast)"
    )
    unmet = out.get("condition_unmet", [])
    body = [
        title + (f" ({tag})" if tag else ""),
        "",
        provenance(out, "python benchmarks/claims.py")
        + f"Seeds {seeds}; learning rates per method (tuned on {tuning_split}, base method "
        f"alone, {out.get('tuning_rule', 'retain kept, then most forgetting')}): "
        + ", ".join(f"{NAMES[m]} {out['learning_rates'][m]:g}" for m in methods)
        + f"; steps {out.get('steps', 100)}"
        + (" at most, each run stopped by the parity rule" if parity else "")
        + "; every other setting is the embedded default. λ=3, μ=10 and τ=0.1 were tuned with "
        "NPO only and are used unchanged for every method. "
        f"{out['grid_settings']['final_eval_items']} items a side for the metrics. Values are "
        "mean ± sd over seeds, after unlearning."
        + "".join(f" Since then: {note} (`--merge`)." for note in out.get("merged", [])),
        "",
    ]
    if unmet:
        body += [
            "**Tuning caveat:** for "
            + ", ".join(NAMES[m] for m in unmet)
            + (
                " no learning rate in the tuning grid reached parity in every tuning seed; the "
                "grid uses the rate that came closest anyway, and its rows are marked †."
                if parity
                else " no learning rate in the tuning grid kept ≥ 95% of retain accuracy; the "
                "grid uses the rate that forgot most anyway, and its rows are marked †."
            ),
            "",
        ]
    shown = "; its rows are below" if tuning_split in splits else ""
    body += [
        f"Verdicts on the held-out splits ({', '.join(held_out) or 'none'}; the tuning split "
        f"{tuning_split} is not counted{shown}). A difference counts only when it goes "
        "the same way in every seed or exceeds the seed spread; 'unclear' otherwise. Means "
        "without → with CLReg per split:",
        "",
        *verdicts(rows, held_out, methods, parity),
        "",
    ]
    for split in splits:
        before = next(r["before"] for r in rows if r["split"] == split and "before" in r)
        counted = "" if split in held_out else " — tuning split, not counted in the verdicts"
        body += [
            f"### {split} (before: forget acc {before['forget_accuracy']:.2f}, retain acc "
            f"{before['retain_accuracy']:.2f}, ES {before['entanglement']:.1f}, MIA AUC "
            f"{before['mia_auc']:.2f}){counted}",
            "",
        ]
        table_rows = []
        for m in methods:
            for variant in VARIANTS:
                if not values(rows, split, m, variant, "forget_accuracy"):
                    continue
                label = NAMES[m] + VARIANTS[variant] + (" †" if m in unmet else "")
                cells = [
                    mean_spread(values(rows, split, m, variant, key), digits)
                    for key, _, digits in COLUMNS
                ]
                if parity:
                    cells.append(_parity_cell(rows, split, m, variant))
                table_rows.append([label, *cells])
        headers = ["method", *[c[1] for c in COLUMNS]]
        if parity:
            headers.append("steps to parity (per seed; kept step if not reached)")
        body += [table(headers, table_rows), ""]
        layers = _layer_table(rows, split, methods)
        body += [layers, ""] if layers else []
    body += [
        "Columns: *probe* is a linear probe's balanced accuracy at telling forget from retain "
        "features after unlearning (high = the forget items are still singled out in the "
        "features; CLReg pushes them apart on purpose, so for it this shows where they went, not "
        "that the facts remain). *relearned acc* is greedy accuracy "
        "on held-out forget facts after 20 fine-tuning steps on the other forget facts (the "
        "relearning attack; it starts from the forget acc of those facts). *degenerate* is the "
        "share of forget answers that repeat a word 3+ times or loop. FQ and PrivLeak need "
        "the gold model, which exists for forget10 (and forget05 and forget01, which are part of "
        "it) only.",
    ]
    figure = feature_figure(out, name)
    if figure:
        body += ["", f"![Feature Entanglement]({figure.relative_to(FIGURES.parent.parent)})"]
    return "\n".join(body)


def _parity_cell(rows, split, method, variant) -> str:
    cells = []
    for r in sorted(rows, key=lambda r: r["seed"]):
        if (r["split"], r["method"], variant_of(r)) != (split, method, variant):
            continue
        p = r.get("parity") or {}
        reached = p.get("reached_at")
        cells.append(
            str(reached["step"]) if reached else f"not reached (kept {p.get('kept_step')})"
        )
    return ", ".join(cells) or "n/a"


def _layer_table(rows, split, methods) -> str:
    """Entanglement at every decoder block after unlearning (mean over seeds)."""
    out = []
    width = 0
    for m in methods:
        for variant in VARIANTS:
            runs = [
                r["after"].get("entanglement_by_layer")
                for r in rows
                if (r["split"], r["method"], variant_of(r)) == (split, m, variant)
                and r["status"] == "finished"
                and r["after"].get("entanglement_by_layer")
            ]
            if runs:
                width = max(width, len(runs[0]))
                per_layer = [mean([run[i] for run in runs]) for i in range(len(runs[0]))]
                out.append([NAMES[m] + VARIANTS[variant], *[f"{v:.1f}" for v in per_layer]])
    if not out:
        return ""
    return table(["ES by block (mean)", *[f"block {i}" for i in range(width)]], out)


def feature_figure(out: dict, name: str, split: str = "forget10", seed: int = 0) -> Path | None:
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
            run = next(
                r
                for r in rows
                if r["method"] == m and variant_of(r) == ("clreg" if clreg else "base")
            )
            scatter(axes[row_index][col], run["points"], NAMES[m] + (" + CLReg" if clreg else ""))
    axes[0][0].legend(loc="best", fontsize=7)
    fig.suptitle(f"Feature Entanglement: embedded model, world:{split}, seed {seed}")
    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / f"feature_entanglement{name.removeprefix('claims')}.png"
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


def write(out: dict, name: str) -> None:
    """`name`: claims, claims-parity, claims-gpu, ...: the section and the figure's suffix."""
    write_section(name, markdown(out, name))
