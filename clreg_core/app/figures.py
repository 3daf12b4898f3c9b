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
        subplot_titles=[
            f"{r.label} · step {r.evaluations[-1]['step']}/{r.config.steps}" for r in shown
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
    fig.update_layout(
        title={"text": "Forget vs retain (PCA fitted on the original model)", "font": {"size": 13}},
        height=430,
        template="plotly_white",
        margin={"l": 30, "r": 10, "t": 80, "b": 30},
        legend={"font": {"size": 10}},
        uirevision="live",  # keep the user's zoom while points move
    )
    return fig


def live_curves(runs: Sequence[RunState]) -> go.Figure:
    """Entanglement score per evaluation and every loss term per step, one dash style per run."""
    if not any(r.evaluations or r.losses for r in runs):
        return _empty_figure("Curves of the entanglement score and the losses appear here.")
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=(
            "Entanglement score (lower = pulled apart)",
            "Loss terms",
        ),
    )
    for index, run in enumerate(runs):
        dash = RUN_DASHES[index % len(RUN_DASHES)]
        evals = run.evaluations
        fig.add_trace(
            go.Scatter(
                x=[e["step"] for e in evals],
                y=[e["metrics"]["entanglement"] for e in evals],
                mode="lines+markers",
                name=f"{run.label}: entanglement",
                line={"dash": dash, "color": FORGET_COLOR if index else RETAIN_COLOR},
            ),
            row=1,
            col=1,
        )
        terms = [k for k in (run.losses[0] if run.losses else {}) if k != "step"]
        for term_index, term in enumerate(terms):
            fig.add_trace(
                go.Scatter(
                    x=[s["step"] for s in run.losses],
                    y=[s[term] for s in run.losses],
                    mode="lines",
                    name=f"{run.label}: {term}",
                    line={"dash": dash, "color": TERM_COLORS[term_index % len(TERM_COLORS)]},
                ),
                row=2,
                col=1,
            )
    fig.update_xaxes(title_text="step", row=2, col=1)
    fig.update_layout(
        height=430,
        template="plotly_white",
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
        legend={"font": {"size": 10}},
        uirevision="curves",
    )
    return fig


def paper_view(runs: Sequence[RunState]) -> go.Figure | None:
    """The paper's "feature entanglement" picture: a 2-D embedding (UMAP where installed, else
    t-SNE) of the original model's features and of each unlearned model's, side by side."""
    done = [r for r in runs if r.paper_points]
    if not done:
        return None
    panels = [("original model", done[0].paper_points["original"])]
    panels += [(f"after {r.label}", r.paper_points["after"]) for r in done]
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
