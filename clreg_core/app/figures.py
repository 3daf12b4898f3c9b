"""Plotly figures of runs, built from plain arrays (no torch): the live representation scatter,
the live curves, the paper-style static view, and an HTML page holding them all.

The live scatter keeps its axes from the step-0 projection (widened only when points leave
them, never narrowed), so motion on screen is motion in the model, not a rescaled view.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from clreg_core.app.run_state import RunState

FORGET_COLOR = "#d62728"
RETAIN_COLOR = "#1f77b4"
START_COLOR = "rgba(120,120,120,0.25)"
SYMBOLS = ("circle", "square", "diamond", "cross", "x", "triangle-up", "star", "hexagon",
           "triangle-down", "pentagon", "hourglass", "bowtie")  # fmt: skip
TERM_COLORS = ("#111111", "#9467bd", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
RUN_DASHES = ("solid", "dot")
# The loss terms' names in the legend (the report keeps the code names).
TERM_NAMES = {
    "total": "total loss",
    "forget": "forget term (the base method)",
    "retain_nll": "retain loss (keep knowledge; summed over each answer's tokens)",
    "retain_kl": "retain loss (keep the original model's word choices on retain answers)",
    "guess": "guess term (learn a stranger-like answer)",
    "clreg": "CLReg term (push forget features away)",
    "anchor": "anchor (keep retain features in place)",
    "holdout_target": "pull toward never-seen people's features (holdout_target_weight)",
}
AXIS_PADDING = 0.25  # share of the step-0 spread added on each side, room for points to move


def _points(cloud: dict) -> tuple[np.ndarray, np.ndarray]:
    forget = np.asarray(cloud["forget"], dtype=float).reshape(-1, 2)
    retain = np.asarray(cloud["retain"], dtype=float).reshape(-1, 2)
    return forget, retain


def _group_name(group: str) -> str:
    return group.split(":", 1)[-1] if group else "forget"


def _add_cloud(fig, cloud: dict, col: int, legend: bool, faint: bool = False) -> None:
    """Forget points as one trace per group (told apart by marker), retain points as one trace."""
    forget, retain = _points(cloud)
    size = 6 if faint else 9
    groups = cloud.get("forget_groups") or [""] * len(forget)
    for index, group in enumerate(dict.fromkeys(groups)):
        rows = [i for i, g in enumerate(groups) if g == group]
        fig.add_trace(
            go.Scatter(
                x=forget[rows, 0],
                y=forget[rows, 1],
                mode="markers",
                name=f"forget: {_group_name(group)}",
                legendgroup=f"forget-{group}",
                showlegend=legend and not faint,
                hoverinfo="skip" if faint else "name",
                marker={
                    "symbol": SYMBOLS[index % len(SYMBOLS)],
                    "size": size,
                    "color": START_COLOR if faint else FORGET_COLOR,
                    "line": {"width": 0.5, "color": "white"},
                },
            ),
            row=1,
            col=col,
        )
    fig.add_trace(
        go.Scatter(
            x=retain[:, 0],
            y=retain[:, 1],
            mode="markers",
            name="original positions" if faint else "retain",
            legendgroup="start" if faint else "retain",
            showlegend=legend,
            hoverinfo="skip" if faint else "name",
            marker={
                "symbol": "circle-open" if faint else "circle",
                "size": size,
                "color": START_COLOR if faint else RETAIN_COLOR,
            },
        ),
        row=1,
        col=col,
    )


def _axis_range(values: Sequence[np.ndarray], start: np.ndarray) -> list[float]:
    """The step-0 range with padding, widened to whatever points have left it."""
    low, high = float(start.min()), float(start.max())
    pad = AXIS_PADDING * max(high - low, 1e-6)
    low, high = low - pad, high + pad
    for array in values:
        if array.size:
            low, high = min(low, float(array.min())), max(high, float(array.max()))
    return [low, high]


def _empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14})
    fig.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, height=380, template="plotly_white"
    )
    return fig


def live_scatter(runs: Sequence[RunState]) -> go.Figure:
    """Each run's latest forget/retain points on the basis fitted on the original model, over
    faint markers at the original positions."""
    shown = [r for r in runs if r.evaluations]
    if not shown:
        return _empty_figure("The representation plot appears when a run starts.")
    fig = make_subplots(
        rows=1,
        cols=len(shown),
        # Two short lines: an A/B pair's titles on one line each ran into each other.
        subplot_titles=[
            f"{r.label}<br>step {r.evaluations[-1]['step']}/{r.config.steps}" for r in shown
        ],
        horizontal_spacing=0.06,
    )
    for col, run in enumerate(shown, start=1):
        start, latest = run.evaluations[0]["points"], run.evaluations[-1]["points"]
        start_xy = np.concatenate(_points(start))
        latest_xy = np.concatenate(_points(latest))
        if len(run.evaluations) > 1:
            _add_cloud(fig, start, col, legend=col == 1, faint=True)
        _add_cloud(fig, latest, col, legend=col == 1)
        fig.update_xaxes(range=_axis_range([latest_xy[:, 0]], start_xy[:, 0]), row=1, col=col)
        fig.update_yaxes(range=_axis_range([latest_xy[:, 1]], start_xy[:, 1]), row=1, col=col)
    fig.update_annotations(font_size=12)  # the run titles
    fig.update_layout(
        title={"text": "Forget vs retain (PCA fitted on the original model)", "font": {"size": 13}},
        height=450,
        template="plotly_white",
        margin={"l": 30, "r": 10, "t": 95, "b": 30},
        legend={"font": {"size": 10}},
        uirevision="live",  # keep the user's zoom while points move
    )
    return fig


# One colour per run (the first of an A/B pair, the second): never red or blue, which mean forget
# and retain in every figure, nor grey (the original model and references) or gold.
RUN_COLORS = ("#9467bd", "#8c564b")
BAND_COLOR = "#2ca02c"
HOLDOUT_COLOR = "#7f7f7f"
GOLD_COLOR = "#c9a227"  # the gold model (never saw the forget set), wherever it is drawn
LOOP_COLOR = "#bcbd22"  # apart from the loss terms' colours
SAME_ANSWER_COLOR = "#393b79"  # dark blue: apart from the loss terms and the loops
SALAD_COLOR = "#e377c2"  # pink: answers that are not well-formed (word salad)
LAYER_MARK_COLOR = "rgba(255,193,7,0.25)"
DENSE_BLOCKS = 12  # past this many blocks the per-layer chart labels blocks by number alone


PARITY_TITLES = (
    "Entanglement<br>lower = apart",
    "Parity AUC<br>0.5 = never saw it",
    "Loss terms",
    "Answers known, salad<br>forget vs holdout",
)
# Where parity does not use the AUC (a topic pack: its never-learned answers are phrased unlike
# the forget answers, so their likelihoods do not compare), the panel shows what it is judged
# on: the distance to the band of the accuracies, fluency and retain measures.
DISTANCE_TITLE = "Distance to parity<br>≤ 1 = at parity"
DISTANCE_AXIS_CAP = 10.0  # a model that knew every answer starts at ~20: the approach shows


def _has_parity(run: RunState) -> bool:
    return any("parity_auc" in e["metrics"] for e in run.evaluations)


def _parity_key(runs: Sequence[RunState]) -> str:
    """What the parity panel draws: the AUC, unless no run with parity uses it."""
    measured = [r for r in runs if _has_parity(r)]
    uses_auc = any(run.parity_uses_auc() for run in measured)
    return "parity_distance" if measured and not uses_auc else "parity_auc"


def _series(run: RunState, key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of one live measure, skipping evaluations that lack it."""
    pairs = [(e["step"], e["metrics"][key]) for e in run.evaluations if key in e["metrics"]]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def live_curves(runs: Sequence[RunState]) -> go.Figure:
    """Entanglement score per evaluation and every loss term per step, one dash style per run;
    where the task has never-trained (holdout) items, beside them the parity measures: the
    forget-vs-holdout membership AUC with its band around 0.5, forget vs holdout accuracy, and
    the share of forget answers that loop (a collapse is not parity)."""
    if not any(r.evaluations or r.losses for r in runs):
        return _empty_figure("Curves of entanglement, parity and the losses appear here.")
    parity = any(_has_parity(r) for r in runs)
    parity_key = _parity_key(runs)
    if parity:
        titles = list(PARITY_TITLES)
        if parity_key == "parity_distance":
            titles[1] = DISTANCE_TITLE
        fig = make_subplots(
            rows=2,
            cols=2,
            shared_xaxes=True,
            vertical_spacing=0.16,
            horizontal_spacing=0.12,
            # Two short lines each: side by side in half a page, one line would run into the next.
            subplot_titles=titles,
        )
    else:
        fig = make_subplots(
            rows=2,
            cols=1,
            shared_xaxes=True,
            vertical_spacing=0.12,
            subplot_titles=("Entanglement score (lower = pulled apart)", "Loss terms"),
        )
    for index, run in enumerate(runs):
        dash = RUN_DASHES[index % len(RUN_DASHES)]
        _run_curve(fig, run, index, "entanglement", "entanglement (live items)", col=1)
        _add_final_entanglement(fig, run, index)
        terms = [k for k in (run.losses[0] if run.losses else {}) if k != "step"]
        for term_index, term in enumerate(terms):
            fig.add_trace(
                go.Scatter(
                    x=[s["step"] for s in run.losses],
                    y=[s[term] for s in run.losses],
                    mode="lines",
                    name=f"{run.label}: {TERM_NAMES.get(term, term)}",
                    line={"dash": dash, "color": TERM_COLORS[term_index % len(TERM_COLORS)]},
                ),
                row=2,
                col=1,
            )
        if parity and _has_parity(run):
            _add_parity(fig, run, index, parity_key)
    if parity and parity_key == "parity_distance":
        _add_distance_band(fig, runs)
    elif parity:
        _add_parity_band(fig, runs)
        fig.update_yaxes(range=[-0.02, 1.02], row=1, col=2)
    if parity:
        fig.update_yaxes(range=[-0.02, 1.02], row=2, col=2)
        fig.update_xaxes(title_text="step", row=2, col=2)
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_annotations(font_size=12)  # the subplot titles
    # The legend goes below the panels: a run has up to a dozen lines, and a legend at the
    # side took most of a half-page plot's width, squeezing the four panels into their titles.
    fig.update_layout(
        height=700 if parity else 600,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 70 if parity else 50, "b": 40},
        legend={"font": {"size": 10}, "orientation": "h", "yanchor": "top", "y": -0.16, "x": 0},
        uirevision="curves",
    )
    return fig


def _add_final_entanglement(fig, run: RunState, index: int) -> None:
    """The before/after entanglement of the metrics table, as two open markers beside the live
    curve: the table measures more items than the live checks (the score depends on how many
    items it averages over), so the two start at different heights; this shows both, labelled."""
    metrics = (run.report or {}).get("metrics", {})
    before = metrics.get("before", {}).get("entanglement")
    after = metrics.get("after", {}).get("entanglement")
    if before is None or after is None:
        return
    kept = (run.report.get("parity") or {}).get("kept_step", run.step)
    size = (run.report.get("evaluation_sizes") or {}).get("final", {}).get("forget_items")
    items = f"{size} items a side" if size else "all final items"
    fig.add_trace(
        go.Scatter(
            x=[0, kept],
            y=[before, after],
            mode="markers",
            name=f"{run.label}: entanglement in the table ({items})",
            marker={
                "symbol": "diamond-open",
                "size": 11,
                "color": RUN_COLORS[index % len(RUN_COLORS)],
            },
        ),
        row=1,
        col=1,
    )


def _run_curve(fig, run: RunState, index: int, key: str, name: str, col: int):
    """One live measure of one run in the top row, in the run's dash and colour."""
    steps, values = _series(run, key)
    _line(fig, run, index, steps, values, name, RUN_COLORS[index % len(RUN_COLORS)], 1, col)
    return steps, values


def _line(fig, run, index, steps, values, name, color, row, col, marker=None) -> None:
    """A run's curve of one measure, dashed the run's way, in the given panel."""
    fig.add_trace(
        go.Scatter(
            x=steps,
            y=values,
            mode="lines+markers",
            name=f"{run.label}: {name}",
            line={"dash": RUN_DASHES[index % len(RUN_DASHES)], "color": color},
            marker=marker,
        ),
        row=row,
        col=col,
    )


def _add_parity(fig, run: RunState, index: int, key: str = "parity_auc") -> None:
    """One run's parity curves (right-hand column: `key`, the AUC or the distance to parity)
    and, once it stopped, the step it kept."""
    name = "parity AUC" if key == "parity_auc" else "distance to parity"
    steps, auc = _run_curve(fig, run, index, key, name, col=2)
    kept = (run.parity or {}).get("kept_step")
    if run.parity and run.parity.get("measurable") and kept in steps:
        fig.add_trace(
            go.Scatter(
                x=[kept],
                y=[auc[steps.index(kept)]],
                mode="markers",
                name=f"{run.label}: kept step {kept}",
                marker={"symbol": "star", "size": 13, "color": BAND_COLOR},
            ),
            row=1,
            col=2,
        )
    # a pack's holdout is the questions the original model never knew, not strangers at chance
    reference = "holdout accuracy (chance)" if key == "parity_auc" else "never-learned level"
    for key, name, color in (
        ("forget_accuracy", "forget accuracy", FORGET_COLOR),
        ("holdout_accuracy", reference, HOLDOUT_COLOR),
        ("forget_degenerate", "forget answers that loop", LOOP_COLOR),
        ("forget_same_answer", "forget answers all alike", SAME_ANSWER_COLOR),
        ("forget_ill_formed", "forget answers not well-formed", SALAD_COLOR),
    ):
        steps, values = _series(run, key)
        if steps:
            _line(fig, run, index, steps, values, name, color, 2, 2, marker={"size": 5})


def _add_distance_band(fig, runs: Sequence[RunState]) -> None:
    """Distance 0 to 1 (inside the band) shaded; the axis is linear from 0, capped where the
    first distances run far out, so the approach to the band stays visible."""
    fig.add_hrect(
        y0=0,
        y1=1,
        fillcolor=BAND_COLOR,
        opacity=0.15,
        line_width=0,
        layer="below",
        name="parity band: distance ≤ 1",
        showlegend=True,
        row=1,
        col=2,
    )
    distances = [v for r in runs for v in _series(r, "parity_distance")[1]]
    top = min(max(distances, default=2.0), DISTANCE_AXIS_CAP)
    fig.update_yaxes(range=[0, max(2.0, top * 1.05)], row=1, col=2)


def _add_parity_band(fig, runs: Sequence[RunState]) -> None:
    """The band 0.5 ± tolerance in which forget items count as never seen, shaded."""
    tolerances = sorted({r.config.parity_auc_tolerance for r in runs if _has_parity(r)})
    for tolerance in tolerances:
        fig.add_hrect(
            y0=0.5 - tolerance,
            y1=0.5 + tolerance,
            fillcolor=BAND_COLOR,
            opacity=0.15,
            line_width=0,
            layer="below",
            name=f"parity band: AUC 0.5 ± {tolerance:g}",
            showlegend=True,
            row=1,
            col=2,
        )
    fig.add_hline(y=0.5, line_dash="dot", line_color=BAND_COLOR, line_width=1, row=1, col=2)


def layer_entanglement(runs: Sequence[RunState]) -> go.Figure | None:
    """The entanglement score at every decoder block, of the original model, after each finished
    run and of the gold model where one was measured (the target: a model that never saw the
    forget set), with the block CLReg acts on marked: the paper's effect is local to the
    regularised layer, so the other blocks tell whether the concept moved or only that layer.
    Where representation membership was measured, a second panel shows it at every block."""
    done = [
        r
        for r in runs
        if r.report and r.report.get("metrics", {}).get("after", {}).get("entanglement_by_layer")
    ]
    if not done:
        return None
    membership = any("membership_probe_by_layer" in r.report["metrics"]["after"] for r in done)
    fig = make_subplots(
        rows=2 if membership else 1,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=[
            "Entanglement (lower = forget and retain apart)",
            *(["Representation membership (0.5 = the weights cannot tell who was forgotten)"]
              if membership else []),
        ],
    )  # fmt: skip
    blocks = 0
    for row, key in enumerate(
        ("entanglement_by_layer", "membership_probe_by_layer")[: 1 + membership], start=1
    ):
        for name, values, color in _layer_series(done, key):
            blocks = max(blocks, len(values))
            fig.add_trace(
                go.Bar(
                    x=list(range(len(values))),
                    y=values,
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    marker_color=color,
                    # Each bar says its value: a block CLReg pulled apart can drop 20x, too short
                    # to read off a linear axis (a log axis would exaggerate small differences).
                    text=[f"{v:.3g}" for v in values],
                    textposition="outside",
                    textfont={"size": 9},
                    hovertemplate="block %{x}: %{y:.3g}<extra>" + name + "</extra>",
                ),
                row=row,
                col=1,
            )
    clreg_runs = [r for r in done if r.config.clreg]
    what = "CLReg layer" if clreg_runs else "measured layer"
    marked = {_block_index(r.config.feature_layer, blocks) for r in clreg_runs or done[:1]}
    marked = {layer for layer in marked if 0 <= layer < blocks}
    for layer in marked:
        fig.add_vrect(
            x0=layer - 0.5, x1=layer + 0.5, fillcolor=LAYER_MARK_COLOR, line_width=0, layer="below"
        )
    if membership:
        fig.add_hline(y=0.5, line_dash="dot", line_color=HOLDOUT_COLOR, row=2, col=1)
        fig.update_yaxes(title_text="probe accuracy", range=[0, 1.15], row=2, col=1)

    dense = blocks > DENSE_BLOCKS

    def tick(block: int) -> str:
        if dense:  # SmolLM2's 30 blocks: "block 12 (last)" labels ran into each other
            text = str(block) + ("<br>last" if block == blocks - 1 else "")
            return text + ("<br><b>CLReg</b>" if block in marked and clreg_runs else "")
        text = f"block {block}" + (" (last)" if block == blocks - 1 else "")
        return text + (f"<br><b>{what}</b>" if block in marked else "")

    if dense:  # a value over every bar of 30 blocks is a smear: hovering gives each one
        fig.update_traces(text=None, selector={"type": "bar"})
    fig.update_xaxes(
        tickvals=list(range(blocks)),
        ticktext=[tick(b) for b in range(blocks)],
        tickangle=0,
        tickfont={"size": 9 if dense else 11},
    )
    fig.update_xaxes(title_text="decoder block (0 = first)", row=2 if membership else 1, col=1)
    fig.update_yaxes(title_text="entanglement score", rangemode="tozero", row=1, col=1)
    fig.update_layout(
        title={
            "text": "Representations at every decoder block, before and after",
            "font": {"size": 13},
        },
        barmode="group",
        height=620 if membership else 380,
        template="plotly_white",
        margin={"l": 50, "r": 10, "t": 80, "b": 40},
        legend={"font": {"size": 10}},
    )
    return fig


def _layer_series(done: Sequence[RunState], key: str) -> list[tuple[str, list, str]]:
    """(name, per-block values, colour) of the original model, each run and the gold model."""
    metrics = done[0].report["metrics"]
    series = []
    if metrics.get("before", {}).get(key):
        series.append(("original model", metrics["before"][key], HOLDOUT_COLOR))
    series += [
        (f"after {r.label}", r.report["metrics"]["after"][key], RUN_COLORS[i % len(RUN_COLORS)])
        for i, r in enumerate(done)
        if r.report["metrics"]["after"].get(key)
    ]
    golds = (r.report["metrics"].get("gold", {}).get(key) for r in done)
    gold = next((values for values in golds if values), None)
    if gold:
        series.append(("gold (never saw the forget set)", gold, GOLD_COLOR))
    return series


def _block_index(feature_layer: int, blocks: int) -> int:
    """The config's feature layer as a block index: -1 is the last block."""
    return feature_layer if feature_layer >= 0 else blocks + feature_layer


def relearning_curves(runs: Sequence[RunState]) -> go.Figure | None:
    """Gone or only hidden (engine/relearning.py): recall of held-out forget facts at every step
    of an attacker's fine-tuning on the other facts, for each run that was checked (its own LoRA
    solid, a fresh LoRA on its merged weights dashed) and for the reference, a model that never
    learned them (grey, dotted): recall far above the reference means the facts were hidden.
    Where the check recorded them, a second panel shows the first checked run's forget and
    retain points on the live plot's fixed axes at the attack step a slider picks."""
    checked = [r for r in runs if r.report and "same_lora" in r.report.get("relearning", {})]
    if not checked:
        return None
    moving = next((r for r in checked if r.report["relearning"].get("motion")), None)
    fig = make_subplots(
        rows=1,
        cols=2 if moving else 1,
        column_widths=[0.55, 0.45] if moving else None,
        subplot_titles=[
            "recall of held-out forget facts",
            *([f"{moving.label}: its points as its own LoRA is attacked"] if moving else []),
        ],
    )
    for index, run in enumerate(checked):
        block, color = run.report["relearning"], RUN_COLORS[index % len(RUN_COLORS)]
        for key, dash, how in (("same_lora", "solid", "its own LoRA"),
                               ("fresh_lora", "dash", "a fresh LoRA on its weights")):  # fmt: skip
            curve = block[key]
            fig.add_trace(go.Scatter(
                x=_recall_steps(block, curve), y=curve, mode="lines+markers",
                name=f"after {run.label}: {how}", line={"color": color, "dash": dash},
                marker={"size": 4},
            ), row=1, col=1)  # fmt: skip
    reference = checked[0].report["relearning"].get("reference", {})
    if "curve" in reference:
        curve = reference["curve"]
        fig.add_trace(go.Scatter(
            x=_recall_steps(checked[0].report["relearning"], curve), y=curve, mode="lines+markers",
            name=f"reference: {reference['model']}",
            line={"color": HOLDOUT_COLOR, "dash": "dot"}, marker={"size": 4},
        ), row=1, col=1)  # fmt: skip
    if moving:
        block = moving.report["relearning"]
        _add_attack_motion(fig, block["motion"], _recall_steps(block, block["motion"]["frames"]))
    readings = "<br>".join(
        f"{r.label}: {r.report['relearning']['verdict']['reading']}" for r in checked
    )
    fig.update_xaxes(title_text="attacker's fine-tuning steps (on the other half)", row=1, col=1)
    fig.update_yaxes(title_text="recall of held-out forget facts", range=[0, 1.05], row=1, col=1)
    fig.update_layout(
        title={"text": f"Gone or only hidden?<br><sup>{readings}</sup>", "font": {"size": 13}},
        height=480 if moving else 420,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.3},
        margin={"t": 110},
    )
    return fig


def _recall_steps(block: dict, points: list) -> list[int]:
    """The attack steps a curve's points (or the motion's frames) were measured after; a report
    from before `recall_steps` measured after every step."""
    return block.get("recall_steps") or list(range(len(points)))


def _add_attack_motion(fig, motion: dict, at_steps: list[int]) -> None:
    """The attack's points in the right-hand panel: faint where they were after unlearning,
    solid at the step the slider picks (a restyle of two traces per step: Gradio draws a
    figure without plotly's animation frames)."""
    frames = motion["frames"]
    start_forget, start_retain = _points(frames[0])
    end_forget, end_retain = _points(frames[-1])
    for points, name, color in (
        (start_forget, "forget points after unlearning", START_COLOR),
        (end_forget, "forget points (attacked)", FORGET_COLOR),
        (end_retain, "retain points (attacked)", RETAIN_COLOR),
    ):
        fig.add_trace(
            go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name=name,
                       marker={"size": 7, "color": color}, hoverinfo="name"),
            row=1, col=2,
        )  # fmt: skip
    moved = [len(fig.data) - 2, len(fig.data) - 1]  # the attacked forget and retain traces
    steps = []
    for number, frame in zip(at_steps, frames, strict=True):
        forget, retain = _points(frame)
        steps.append({
            "method": "restyle",
            "label": str(number),
            "args": [{"x": [forget[:, 0], retain[:, 0]], "y": [forget[:, 1], retain[:, 1]]},
                     moved],
        })  # fmt: skip
    everything = np.concatenate([_points(f)[side] for f in frames for side in (0, 1)])
    start = np.concatenate([start_forget, start_retain])
    fig.update_xaxes(range=_axis_range([everything[:, 0]], start[:, 0]), row=1, col=2,
                     showticklabels=False, title_text="PC 1 (the live plot's axes)")  # fmt: skip
    fig.update_yaxes(range=_axis_range([everything[:, 1]], start[:, 1]), row=1, col=2,
                     showticklabels=False, title_text="PC 2")  # fmt: skip
    fig.update_layout(
        sliders=[{
            "active": len(frames) - 1, "steps": steps, "x": 0.57, "len": 0.43, "y": -0.05,
            "currentvalue": {"prefix": "attack step "}, "pad": {"t": 30},
        }]
    )  # fmt: skip


def paper_view(runs: Sequence[RunState]) -> go.Figure | None:
    """The paper's "feature entanglement" picture: a 2-D embedding (UMAP where installed, else
    t-SNE) of the original model's features, each unlearned model's and, where one exists, the
    gold model's (never saw the forget set), side by side."""
    done = [r for r in runs if r.paper_points]
    if not done:
        return None
    panels = [("original model", done[0].paper_points["original"])]
    panels += [(f"after {r.label}", r.paper_points["after"]) for r in done]
    if "gold" in done[0].paper_points:  # the target: how a model that never saw them sees them
        panels.append(("gold (never saw the forget set)", done[0].paper_points["gold"]))
    method = done[0].paper_points.get("method", "t-SNE")
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels])
    for col, (_, cloud) in enumerate(panels, start=1):
        _add_cloud(fig, cloud, col, legend=col == 1)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(showticklabels=False, row=1, col=col)
    fig.update_layout(
        title=f"Feature entanglement at the end ({method} of layer-{done[0].paper_points['layer']}"
        " features, each panel embedded on its own)",
        height=400,
        template="plotly_white",
        margin={"l": 20, "r": 10, "t": 70, "b": 20},
    )
    return fig


def embed_2d(features: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """A 2-D embedding for the static view: UMAP when `umap-learn` is installed, else t-SNE
    (scikit-learn); both keep local clumps, which PCA would blur."""
    n = len(features)
    try:
        import umap  # optional: pulls numba, so it stays out of the default install

        reducer = umap.UMAP(n_neighbors=min(15, n - 1), random_state=seed, metric="cosine")
        return reducer.fit_transform(features), "UMAP"
    except ImportError:
        from sklearn.manifold import TSNE

        tsne = TSNE(2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed)
        return tsne.fit_transform(features), "t-SNE"


def plots_html(figures: Sequence[go.Figure]) -> str:
    """One self-contained HTML page (plotly.js embedded once, so it opens offline)."""
    parts = [
        fig.to_html(full_html=False, include_plotlyjs=index == 0)
        for index, fig in enumerate(figures)
    ]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>CLReg Lab plots</title>"
        "</head><body>" + "\n".join(parts) + "</body></html>"
    )
