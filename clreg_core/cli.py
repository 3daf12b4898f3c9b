"""Command line: run one unlearning job and write a run folder.

    python -m clreg_core run --model embedded --method npo --clreg --out runs/npo-clreg
    python -m clreg_core run --config runs/npo-clreg/report.json --out runs/again   # rerun

Every RunConfig field is a flag (`--help` lists them); unset flags take the model's defaults.
The run folder holds `report.json`, the LoRA adapter (`adapter/`, safetensors) and `points.jsonl`
(the projected forget/retain points of every evaluation). `--out` must be a new or an empty
folder (`--overwrite` writes into one that holds files), never `/` or your home folder. Ctrl+C
stops after the current step and still writes the folder (the report says "cancelled"); a
second Ctrl+C quits at once.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import os
import signal
import sys
import threading
from pathlib import Path

from clreg_core.config import CHOICES, ConfigError, RunConfig, default_config
from clreg_core.data.topic_packs import forget_pack_ids
from clreg_core.errors import UserInputError
from clreg_core.metrics.parity import final_text, reference_words
from clreg_core.paths import read_capped

_JSON_KINDS = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
# A report.json of a default run is ~100 kB; one of thousands of steps, a few MB.
MAX_CONFIG_BYTES = 64 * 2**20

FLAG_HELP = {
    "task": "what to forget: world:forget01|forget05|forget10, world:person:<name>, "
    "world:profession:<name>, world:birthplace:<city>, pack:<id> ({packs}), custom (with "
    "--custom-text-file), tofu:forget01|forget05|forget10 or muse:news (online)",
    "model": "embedded, smollm2-135m, a hub name (owner/name, online) or a local folder",
    "clreg_weight": "λ, weight of the contrastive term",
    "even_if_unknown": "on your own text, go on even when the model does not know it before "
    "unlearning (by default the run stops there: nothing to forget)",
    "relearn_check": "after the run, check whether the forgetting is gone or only hidden: 20 "
    "steps of fine-tuning on half the forget facts, recall of the other half, against a model "
    "that never learned them (the report's 'relearning' block)",
    "anchor_weight": "μ, weight of the retain-feature anchor",
    "temperature": "τ of the InfoNCE term",
    "feature_layer": "decoder block whose output gives the features (-1 = last)",
    "retain_weight": "α, weight of the retain term of the base method",
    "activation_checkpointing": "recompute block activations in the backward pass (less "
    "memory, more compute); auto: on for 1B+ parameter models on a GPU",
    "lr_schedule": "after warmup: linear (decay to zero at --steps) or constant",
    "retain_loss": "retain term of GradDiff/NPO/SimNPO: nll (the written answers) or kl (the "
    "original model's next-token distribution on them)",
    "forget_weight": "γ, weight of GradDiff's forget term",
    "group_negatives": "other forget groups are negatives too (supervised contrast)",
    "stop_at": "parity: stop when the forget items look never-seen (steps is then a ceiling); "
    "steps: train every step",
    "parity_auc_tolerance": "parity band: |forget-vs-holdout membership AUC - 0.5| at most this",
    "parity_accuracy_tolerance": "parity band: forget accuracy at most the holdout's plus this",
    "parity_fluency_tolerance": "parity band: at most this share of degenerate forget answers",
    "parity_retain_tolerance": "parity band: at most this share of the retain answer probability "
    "lost",
    "parity_same_answer_tolerance": "parity band: at most this much more of the forget answers "
    "giving one same answer than the model's guesses about strangers",
    "sam_rho": "radius of the sharpness-aware step on the forget term (0: the plain step)",
    "clreg_blocks": "how many blocks, from --feature-layer down, the contrastive term and "
    "anchor act on (their mean)",
    "holdout_target_weight": "weight of a pull of forget features toward the original "
    "model's features of never-seen (holdout) people (0: off)",
    "feature_span": "where the features are pooled: answer (every answer token) or value (the "
    "positions that say the value)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m clreg_core",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one unlearning job")
    run.add_argument("--out", required=True, help="run folder to write: a new or an empty folder")
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="write into --out even if it already holds files (a report.json there is replaced)",
    )
    run.add_argument("--config", help="a config JSON or a report.json to start from")
    run.add_argument("--custom-text-file", help="text or JSONL to forget (task 'custom')")
    packs = ", ".join(forget_pack_ids())  # read from the pack index once, for --task
    for f in dataclasses.fields(RunConfig):
        flag = "--" + f.name.replace("_", "-")
        helptext = FLAG_HELP.get(f.name, "").replace("{packs}", packs)
        if f.type == "bool":
            run.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=helptext
            )
        elif f.type.startswith("tuple"):
            run.add_argument(flag, nargs="*", default=None, help=helptext or "list of names")
        else:
            kind = {"int": int, "float": float}.get(f.type, str)
            run.add_argument(
                flag,
                type=kind,
                default=None,
                choices=CHOICES.get(f.name),
                help=f"{helptext} (default {f.default!r})".strip(),
            )
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(RunConfig)
        if getattr(args, f.name) is not None
    }
    if "target_modules" in given:
        given["target_modules"] = tuple(given["target_modules"])
    if args.config:
        try:
            raw = read_capped(args.config, MAX_CONFIG_BYTES)  # a regular file, within the cap
        except UserInputError as error:
            raise ConfigError(f"--config: {error}") from None
        try:
            data = json.loads(raw)
        except ValueError as error:  # not JSON, or not UTF-8/16/32 text
            raise ConfigError(f"cannot read --config {args.config!r}: {error}") from None
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            data = data["config"]  # a report.json; else a bare config
        if not isinstance(data, dict):
            raise ConfigError(
                f"--config {args.config!r} holds a JSON {_JSON_KINDS.get(type(data), 'value')}, "
                "not a config object"
            )
        base = RunConfig.from_dict(data)
        return base.with_changes(**given)
    return default_config(given.pop("model", "embedded"), **given)


def check_out(out: str, overwrite: bool = False) -> Path:
    """The run folder `--out` names, resolved (`~`, symlinks, `..`), once it is known that the run
    may write there: a new folder, an empty one, or with `overwrite` one that holds files; never
    a file, the filesystem root or the home folder itself. Checked before any work starts."""
    path = Path(out).expanduser().resolve()
    if path == Path(path.anchor):
        raise UserInputError(
            f"--out {out} is the filesystem root {path}; a run never writes there: "
            "name a new folder, such as runs/my-run"
        )
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):  # no HOME and no password entry: there is no home to guard
        home = None
    if path == home:
        raise UserInputError(
            f"--out {out} is your home folder {home}; a run never writes there: "
            "name a new folder inside it, such as runs/my-run"
        )
    if path.exists() and not path.is_dir():
        raise UserInputError(
            f"--out {path} is an existing file, not a folder; name a new folder for the run "
            "(--overwrite does not replace a file)"
        )
    if path.is_dir():
        try:
            with os.scandir(path) as entries:
                held = sorted(entry.name for entry in itertools.islice(entries, 4))
        except OSError as error:
            raise UserInputError(f"--out {path} cannot be listed: {error.strerror}") from None
        if held and not overwrite:
            shown = ", ".join(held[:3]) + (", …" if len(held) > 3 else "")
            raise UserInputError(
                f"--out {path} already holds files ({shown}); name a new or empty folder, "
                "or add --overwrite to write into it"
            )
        return path
    parent = next(p for p in path.parents if p.exists())  # the root at least exists
    if not parent.is_dir():
        raise UserInputError(f"--out {path} cannot be made: {parent} is a file, not a folder")
    return path


@contextlib.contextmanager
def stop_on_ctrl_c(say):
    """The first Ctrl+C asks the run to stop after its current step, so the run folder is still
    written with everything so far; a second one quits at once."""
    stop = threading.Event()

    def on_interrupt(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        say("stopping after this step and writing the run folder (Ctrl+C again to quit now)…")

    if threading.current_thread() is not threading.main_thread():  # signals reach only main
        yield stop
        return
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def live_parity_line(m: dict) -> str:
    """One live evaluation's parity measures: the AUC only where parity is judged on it."""
    uses_auc = bool(m.get("parity_uses_auc", 1.0))
    auc = f"membership AUC {m['parity_auc']:.2f} (0.5 = never seen), " if uses_auc else ""
    line = (
        f"  parity: {auc}forget acc {m['forget_accuracy']:.2f} vs {reference_words(uses_auc)[0]} "
        f"{m['holdout_accuracy']:.2f}, degenerate {m['forget_degenerate']:.2f}, "
        f"not well-formed {m.get('forget_ill_formed', float('nan')):.2f}"
    )
    if not uses_auc and "parity_distance" in m:
        line += f"; distance to parity {m['parity_distance']:.2f} (parity at 1 or less)"
    return line


def parity_line(parity: dict) -> str:
    """Where training stopped, in one line (report["parity"])."""
    if not parity.get("measurable"):
        return f"parity not measured: {parity.get('why', '')}"
    kept, trained = parity["kept_step"], parity["trained_steps"]
    line = f"parity: {parity['stopped_because']} (kept step {kept} of {trained})"
    if parity.get("overshot_at") and not parity.get("reached_at"):
        line += " without ever entering the band"
    line += final_text(parity)
    closest = parity.get("closest") or {}
    if closest:
        uses_auc = (parity.get("band") or {}).get("uses_auc", True)
        line += (
            f"; closest at step {closest['step']}: forget acc {closest['forget_accuracy']:.2f} "
            f"vs {reference_words(uses_auc)[0]} {closest['holdout_accuracy']:.2f}, "
            + (f"membership AUC {closest['parity_auc']:.2f}, " if uses_auc else "")
            + f"degenerate answers {closest['forget_degenerate']:.2f}"
        )
        others = reference_words(uses_auc)[1]
        if "forget_same_answer" in closest:
            line += (
                f", answers all alike {closest['forget_same_answer']:.2f} ({others} "
                f"{closest['holdout_same_answer']:.2f})"
            )
        if "forget_ill_formed" in closest:
            line += (
                f", not well-formed {closest['forget_ill_formed']:.2f} ({others} "
                f"{closest['holdout_ill_formed']:.2f})"
            )
    return line


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:  # before anything is loaded or trained, so a refused folder costs nothing
        out = check_out(args.out, args.overwrite)
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from clreg_core.data.custom_text import read_upload
    from clreg_core.engine.budget import Limits, admit
    from clreg_core.engine.distributed import Processes
    from clreg_core.engine.run_folder import write_run_folder
    from clreg_core.engine.tasks import task_for_model
    from clreg_core.engine.training import run_unlearning
    from clreg_core.models.registry import resolve_model

    try:
        config = config_from_args(args)
        custom_text = None
        task = None
        if args.custom_text_file:
            custom_text = read_upload(args.custom_text_file)  # size, binary and encoding checks
        spec = resolve_model(config.model)  # what to keep depends on the model
        task = task_for_model(config.task, spec, custom_text=custom_text or "")
        # the model's shape and the host's budget (only where CLREG_MAX_RUN_S / _MB are set)
        estimated = admit(config, task, Limits.from_env(defaults=False))
        # under `accelerate launch`, only the main process speaks (the run joins the same group)
        processes = Processes.join(config.device)
        main_process = processes.main
        if main_process:
            print(f"estimated: {estimated.describe()} (an upper-side estimate)", file=sys.stderr)
        bar = tqdm(total=config.steps, desc="unlearning", unit="step", disable=not main_process)

        def on_event(event):
            if event.kind == "stage":
                bar.write(f"{event.data['stage']}…")
            elif event.kind == "step":
                bar.update(1)
                bar.set_postfix(loss=f"{event.data['terms']['total']:.3f}")
            elif event.kind == "evaluation":
                m = event.data["metrics"]
                if "parity_auc" in m:  # the same step again, with its parity measures
                    bar.write(live_parity_line(m))
                    return
                bar.write(
                    f"step {event.step}: entanglement {m['entanglement']:.2f}, "
                    f"forget p {m['forget_answer_prob']:.3f}, "
                    f"retain p {m['retain_answer_prob']:.3f}"
                )
                if event.step == 0:  # why the table's "before" will differ from this line
                    bar.write(
                        f"  (live checks use up to {config.eval_items} items a side; the "
                        f"before/after table at the end up to {config.final_eval_items}, so its "
                        "values differ: the entanglement score depends on how many items it "
                        "averages over)"
                    )

        with stop_on_ctrl_c(bar.write) as stop:
            result = run_unlearning(config, on_event=on_event, should_stop=stop.is_set, task=task)
        bar.close()
    except UserInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not main_process:  # the main process writes the run folder; the others wait for it
        return processes.exit(0 if result.status == "finished" else 1)
    write_run_folder(out, result, custom_text)
    print(f"{result.status}: wrote {out / 'report.json'}")
    if result.status == "finished":
        print(f"  {parity_line(result.report['parity'])}")
        before, after = result.report["metrics"]["before"], result.report["metrics"]["after"]
        keys = (
            "forget_accuracy",
            "retain_accuracy",
            "entanglement",
            "mia_auc",
            "membership_probe",
            "forget_degenerate",
            "forget_ill_formed",
            "forget_same_answer",
        )
        gold = result.report["metrics"].get("gold", {})
        gold = {} if "unavailable" in gold else gold
        print(f"  before/after, {_measured_on(result.report)}" + (", gold:" if gold else ":"))
        for key in keys:
            if key in before:
                line = f"  {key:18s} before {before[key]:.3f}  after {after[key]:.3f}"
                # gold (never saw the forget set) is what the after column is read against
                print(line + (f"  gold {gold[key]:.3f}" if key in gold else ""))
        if "relearning" in result.report:
            print(relearning_lines(result.report["relearning"]))
    return processes.exit(0 if result.status == "finished" else 1)


def relearning_lines(block: dict) -> str:
    """The relearning check in words: each attack's recall from start to end, and the reading."""
    if "unavailable" in block:
        return f"  gone or hidden: not checked ({block['unavailable']})"
    lines = [
        f"  gone or hidden? {block['steps']} steps of fine-tuning on {block['shown_items']} "
        f"forget facts, recall of {block['test_items']} others:"
    ]
    reference = block["reference"]
    curves = [("the run's own LoRA", block["same_lora"]), ("a fresh LoRA", block["fresh_lora"])]
    if "curve" in reference:
        curves.append((f"reference: {reference['model']}", reference["curve"]))
    for name, curve in curves:
        lines.append(f"    {name}: {curve[0]:.2f} -> {curve[-1]:.2f}")
    lines.append(f"    {block['verdict']['reading']}")
    return "\n".join(lines)


def _measured_on(report: dict) -> str:
    """How many items the final measurement used, as the report records it."""
    final = (report.get("evaluation_sizes") or {}).get("final") or {}
    sides = [
        f"{final[f'{side}_items']} {side}"
        for side in ("forget", "retain", "holdout")
        if f"{side}_items" in final
    ]
    return "measured on " + ", ".join(sides) + " items" if sides else "final measurement"
