"""CLReg Lab: the Gradio app. Layout and event wiring only; everything that computes lives in
`clreg_core` (this file imports no torch, transformers or peft).

    python app.py            # serves on http://127.0.0.1:7860
"""

from __future__ import annotations

import gradio as gr

from clreg_core import explore
from clreg_core.errors import UserInputError
from clreg_core.ui_choices import model_choices, task_choices

DEFAULT_MODEL = "embedded"
INTRO = """# CLReg Lab
See what a language model knows, then make it forget. Pick a model and a forget topic and ask
the model about it. **This first version shows the model before unlearning**; the CLReg
unlearning run, live representation plots and before/after comparison build on it.
"""


def _chosen_model(picked: str, custom: str) -> str:
    """A typed local folder or hub id wins over the dropdown."""
    return (custom or "").strip() or picked


def on_model_change(picked: str, custom: str):
    model = _chosen_model(picked, custom)
    choices = task_choices(model if model == DEFAULT_MODEL else "pretrained")
    return gr.Dropdown(choices=choices, value=choices[0][1])


def on_probe(picked: str, custom: str, task: str):
    try:
        rows = explore.probe_task(_chosen_model(picked, custom), task)
    except UserInputError as error:
        raise gr.Error(str(error)) from None
    table = [
        [r["set"], r["question"], r["expected"], r["answer"], "✔" if r["correct"] else "✘"]
        for r in rows
    ]
    known = {
        side: [r["correct"] for r in rows if r["set"] == side] for side in ("forget", "retain")
    }
    summary = " · ".join(
        f"{side}: {sum(v)}/{len(v)} answered right" for side, v in known.items() if v
    )
    return table, summary


def on_ask(picked: str, custom: str, question: str) -> str:
    try:
        return explore.ask(_chosen_model(picked, custom), question)
    except UserInputError as error:
        raise gr.Error(str(error)) from None


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="CLReg Lab") as demo:
        gr.Markdown(INTRO)
        with gr.Row():
            model = gr.Dropdown(model_choices(), value=DEFAULT_MODEL, label="Model")
            custom_model = gr.Textbox(label="…or a local folder / hub id", placeholder="optional")
            first_tasks = task_choices(DEFAULT_MODEL)
            task = gr.Dropdown(first_tasks, value=first_tasks[0][1], label="Forget topic")
        probe = gr.Button("Ask the model about this topic", variant="primary")
        summary = gr.Markdown()
        table = gr.Dataframe(
            headers=["set", "question", "expected", "model's answer", "right?"],
            interactive=False,
            wrap=True,
        )
        with gr.Row():
            question = gr.Textbox(label="Ask anything", scale=4)
            ask = gr.Button("Ask", scale=1)
        answer = gr.Textbox(label="Answer", interactive=False)

        model.change(on_model_change, [model, custom_model], task)
        custom_model.submit(on_model_change, [model, custom_model], task)
        probe.click(on_probe, [model, custom_model, task], [table, summary])
        ask.click(on_ask, [model, custom_model, question], answer)
        question.submit(on_ask, [model, custom_model, question], answer)
    return demo


if __name__ == "__main__":
    build_demo().queue(default_concurrency_limit=2).launch()
