"""A probe, not product code: which forget *target* gives fluent, varied, wrong answers?

    python benchmarks/forget_target_probe.py '{"target": "npo", "steps": 100}'
    python benchmarks/forget_target_probe.py '{"target": "relabel", "lr": 0.01, "steps": 100}'
    python benchmarks/forget_target_probe.py '{"target": "stranger", "show": [30, 60]}'

Plain NPO on the embedded model ends up answering every forget question with one word ("…
works as Icelandic.", "… favourite colour is Icelandic."): pushing the true value down moves its
probability to whatever token LoRA's few directions raise most. This loop (LoRA as the product
attaches it, world forget10, a retain NLL summed per answer as the product's) tries targets that
say *what* to answer instead:
- `npo`: NPO on the value tokens (the product's default forget span), for comparison;
- `relabel`: the forget answer with a fresh random value of the same attribute each step (NLL
  on the value tokens), i.e. guess like a model that never met the person;
- `npo+relabel`: both, the relabel term weighted by `relabel_weight`;
- `stranger`: KL to the original model's own next-token distributions at the value positions
  of a twin question that names an invented stranger instead (what it guesses about strangers).
Every 10 steps it prints, on 64 seeded forget and holdout questions: the LOSS membership AUC
forget vs holdout, forget accuracy vs chance, the degenerate and same-answer shares (the
holdout's from the original model beside them), and retain accuracy on 64 retain questions.
Each run appends its trajectory to results/forget_target_probe.jsonl.

    python benchmarks/forget_target_probe.py --summary   # BENCHMARKS.md's table from the file
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clreg_core.config import default_config  # noqa: E402
from clreg_core.engine import losses  # noqa: E402
from clreg_core.engine.batching import collate, encode_item  # noqa: E402
from clreg_core.engine.evaluation import Measurer, answer_hits, qa_only, sample_items  # noqa: E402
from clreg_core.engine.lora import attach_lora  # noqa: E402
from clreg_core.engine.tasks import task_for_model  # noqa: E402
from clreg_core.metrics.fluency import degenerate_share, same_answer_share  # noqa: E402
from clreg_core.metrics.privacy import mia_auc  # noqa: E402
from clreg_core.models.loading import load_model  # noqa: E402
from clreg_core.world.attributes import ATTRIBUTES_BY_KEY  # noqa: E402
from clreg_core.world.generator import invent_strangers  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "forget_target_probe.jsonl"
BATCH = 16


def answer_logprob(logits, labels, mask):
    """Per row, the summed log-prob of the labelled tokens where `mask` is 1."""
    return losses.sequence_logprob(logits, labels.masked_fill(mask == 0, losses.IGNORE_INDEX))


def relabelled(item, rng):
    """The item answered with another value of its attribute (a guess of the right type)."""
    pool = ATTRIBUTES_BY_KEY[item.meta["attribute"]].pool
    value = rng.choice([v for v in pool if v != item.meta["value"]])
    return dataclasses.replace(
        item, answer=item.answer.replace(item.meta["value"], value), accept=(value,)
    )


def stranger_twins(task, forget):
    """Per forget item, the same question and answer about an invented stranger."""
    people = sorted({i.meta["person"] for i in forget})
    known = {i.meta["person"] for i in task.forget + task.retain + task.holdout}
    known |= {word for name in list(known) for word in name.split()}
    names = [p.name for p in invent_strangers(random.Random(0), len(people), known)]
    twin_of = dict(zip(people, names, strict=True))

    def twin(item):
        name, twin_name = item.meta["person"], twin_of[item.meta["person"]]
        return dataclasses.replace(
            item,
            question=item.question.replace(name, twin_name),
            answer=item.answer.replace(name, twin_name),
        )

    return [twin(i) for i in forget]


class Probe:
    def __init__(self, args: dict):
        self.args = args
        rank = args.get("rank", 8)
        self.config = default_config("embedded", lora_rank=rank, lora_alpha=2.0 * rank)
        loaded = load_model("embedded")
        self.tokenizer = loaded.tokenizer
        self.task = task_for_model(self.config.task, loaded.spec)
        self.forget = [i for i in self.task.forget if i.kind == "qa"]
        self.forget_encoded = [self.encode(i) for i in self.forget]
        self.retain = [self.encode(i) for i in self.task.retain if i.kind == "qa"]
        self.model = attach_lora(loaded.model, self.config)
        self.measurer = Measurer.for_run(self.model, loaded, self.config)
        self.questions = {
            "forget": qa_only(sample_items(self.task.forget, 64, 0)),
            "holdout": qa_only(sample_items(self.task.holdout, 64, 2)),
            "retain": qa_only(sample_items(self.task.retain, 64, 1)),
        }
        strangers = self.measurer.answers(self.questions["holdout"], adapter=False)
        self.chance = float(np.mean(answer_hits(self.questions["holdout"], strangers)))
        self.chance_same = same_answer_share(strangers)
        if args.get("target") == "stranger":
            self.teacher = self._stranger_teacher()

    def encode(self, item, feature_span="answer"):
        return encode_item(item, self.tokenizer, "qa", 64, feature_span=feature_span)

    def _stranger_teacher(self):
        """Per forget item: (its value-predicting positions, the original model's log-probs at
        the twin's), or None where the two do not line up token for token."""
        out = []
        twins = stranger_twins(self.task, self.forget)
        with torch.no_grad(), self.model.disable_adapter():
            for item, twin in zip(self.forget, twins, strict=True):
                mine, theirs = self.encode(item, "value"), self.encode(twin, "value")
                at = [k for k, m in enumerate(mine.feature_mask) if m]
                twin_at = [k for k, m in enumerate(theirs.feature_mask) if m]
                if len(at) != len(twin_at) or not at:
                    out.append(None)
                    continue
                logits = self.model(input_ids=torch.tensor([theirs.input_ids])).logits[0]
                out.append((at, F.log_softmax(logits[twin_at].float(), -1)))
        return out

    def forget_term(self, rows: list[int], rng) -> torch.Tensor:
        target = self.args.get("target", "npo")
        if target == "npo+relabel":  # NPO says what not to answer, relabel what to answer
            npo = self._forget_term("npo", rows, rng)
            return npo + self.args.get("relabel_weight", 1.0) * self._forget_term(
                "relabel", rows, rng
            )
        return self._forget_term(target, rows, rng)

    def _forget_term(self, target: str, rows: list[int], rng) -> torch.Tensor:
        if target == "relabel":
            batch = self._batch([self.encode(relabelled(self.forget[i], rng)) for i in rows])
            value = batch["value_mask"].float()
            logp = answer_logprob(self._logits(batch), batch["labels"], value)
            return -(logp / value[:, 1:].sum(-1).clamp(min=1)).mean()
        batch = self._batch([self.forget_encoded[i] for i in rows])
        logits = self._logits(batch)
        if target == "stranger":
            kls = []
            for row, i in enumerate(rows):
                if self.teacher[i] is None:
                    continue
                at, teacher = self.teacher[i]
                student = F.log_softmax(logits[row, at].float(), -1)
                kls.append((teacher.exp() * (teacher - student)).sum(-1).mean())
            return torch.stack(kls).mean()
        value = batch["value_mask"].float()
        with torch.no_grad(), self.model.disable_adapter():
            reference = answer_logprob(self._logits(batch), batch["labels"], value)
        beta = self.args.get("beta", 0.1)
        logp = answer_logprob(logits, batch["labels"], value)
        return -(2 / beta) * F.logsigmoid(-beta * (logp - reference)).mean()

    def _batch(self, encoded):
        return collate(encoded, self.tokenizer.pad_token_id)

    def _logits(self, batch):
        return self.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).logits

    def retain_term(self, rng) -> torch.Tensor:
        batch = self._batch(rng.sample(self.retain, BATCH))
        scored = (batch["labels"] != -100).float()
        return -answer_logprob(self._logits(batch), batch["labels"], scored).mean()

    def evaluate(self, step: int) -> dict:
        q = self.questions
        answers = self.measurer.answers(q["forget"], adapter=True)
        forced = {
            side: self.measurer.forced(self.measurer.encode(q[side]), [], True).mean_token_logp
            for side in ("forget", "holdout")
        }
        retain_answers = self.measurer.answers(q["retain"], adapter=True)
        row = {
            "step": step,
            "auc": mia_auc(forced["forget"], forced["holdout"]),
            "forget_accuracy": float(np.mean(answer_hits(q["forget"], answers))),
            "chance": self.chance,
            "degenerate": degenerate_share(answers),
            "same_answer": same_answer_share(answers),
            "strangers_same_answer": self.chance_same,
            "retain_accuracy": float(np.mean(answer_hits(q["retain"], retain_answers))),
        }
        print(json.dumps({k: round(v, 3) for k, v in row.items()}), flush=True)
        if step in self.args.get("show", []):
            for question, answer in list(zip(q["forget"], answers, strict=True))[:8]:
                print(f"    {question.question} -> {answer}")
        return row

    def run(self) -> list[dict]:
        steps, lr = self.args.get("steps", 60), self.args.get("lr", 3e-3)
        alpha = self.args.get("alpha", 1.0)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        warmup = self.config.warmup_steps
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
        )
        rng = random.Random(0)
        rows = [self.evaluate(0)]
        for step in range(1, steps + 1):
            self.model.train()
            chosen = rng.sample(range(len(self.forget)), BATCH)
            loss = self.forget_term(chosen, rng) + alpha * self.retain_term(rng)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            if step % 10 == 0:
                rows.append(self.evaluate(step))
        return rows


def summary() -> None:
    from benchmarks.markdown import table, write_section

    rows = []
    for line in RESULTS.read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        setting = ", ".join(f"{k}={v}" for k, v in run["args"].items() if k != "show")
        last = run["trajectory"][-1]["step"]
        for row in run["trajectory"]:
            if row["step"] in (20, 40, 60) or row["step"] == last:
                rows.append(
                    [
                        setting,
                        row["step"],
                        f"{row['auc']:.2f}",
                        f"{row['forget_accuracy']:.2f} / {row['chance']:.2f}",
                        f"{row['degenerate']:.2f}",
                        f"{row['same_answer']:.2f} / {row['strangers_same_answer']:.2f}",
                        f"{row['retain_accuracy']:.2f}",
                    ]
                )
    header = [
        "target",
        "step",
        "AUC",
        "forget acc / chance",
        "degenerate",
        "same answer / strangers'",
        "retain acc",
    ]
    body = [
        "## Forget targets: what to answer instead (a probe)",
        "",
        "`python benchmarks/forget_target_probe.py '<args>'` per run (its own loop, not the "
        "product's trainer: the embedded model, world forget10, LoRA as the product attaches "
        "it, retain NLL summed per answer, 64 seeded questions per side; see its docstring). "
        "`--summary` writes this table from `benchmarks/results/forget_target_probe.jsonl`.",
        "",
        table(header, rows),
    ]
    write_section("forget-target-probe", "\n".join(body))
    print("\n".join(body))


def main() -> None:
    if sys.argv[1:] == ["--summary"]:
        summary()
        return
    args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    torch.manual_seed(0)
    started = time.perf_counter()
    rows = Probe(args).run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as out:
        record = {"date": time.strftime("%Y-%m-%d %H:%M"), "args": args, "trajectory": rows}
        record["seconds"] = round(time.perf_counter() - started, 1)
        out.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
