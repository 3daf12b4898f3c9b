"""Train the embedded Fictional-World model (and its retrain-from-scratch gold twin).

    python -m clreg_core.embedded.train                # the embedded model, all trained people
    python -m clreg_core.embedded.train --which gold   # same recipe, retain90 people only
    python -m clreg_core.embedded.train --which both
    python -m clreg_core.embedded.train --which both --out /tmp/trial   # a trial, assets untouched

Deterministic for a seed on CPU. Prints greedy recall on trained facts (every question phrasing)
and on holdout people (who should be at chance), and writes a Hugging Face folder that
`AutoModelForCausalLM.from_pretrained(path)` loads.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from clreg_core.embedded.corpus import (
    Example,
    stranger_examples,
    tokenizer_corpus,
    training_examples,
)
from clreg_core.embedded.recall import measure_recall
from clreg_core.embedded.tokenizer import train_tokenizer
from clreg_core.paths import ASSETS_DIR
from clreg_core.world.generator import DEFAULT_SEED, World, generate_world

MODELS_DIR = ASSETS_DIR / "models"
EMBEDDED_DIR = MODELS_DIR / "fictional-world-llama"
GOLD_SPLIT = "forget10"  # the default forget split; the gold model never sees these people
GOLD_DIR = MODELS_DIR / f"fictional-world-llama-gold-{GOLD_SPLIT}"


@dataclass(frozen=True)
class TrainRecipe:
    # Four small blocks are enough to memorise ~2,400 facts; d=256 keeps a step ~0.1 s on 2 cores.
    hidden_size: int = 256
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 768
    vocab_size: int = 2048
    epochs: int = 12
    batch_size: int = 64
    # Memorisation likes a high learning rate; warmup keeps the first steps from diverging.
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    # Questions about fresh one-off strangers per epoch (see corpus.py): ~1/5 of the world's
    # examples taught restating any name without slowing memorisation.
    strangers_per_epoch: int = 2400
    seed: int = 0
    bf16_autocast: bool = True  # this CPU has AMX-BF16: ~1.4x faster steps; weights stay fp32


def build_model(recipe: TrainRecipe, tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.num_layers,
        num_attention_heads=recipe.num_heads,
        num_key_value_heads=recipe.num_heads,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(recipe.seed)
    return LlamaForCausalLM(config)


def encode(tokenizer, examples: list[Example]) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels): labels are -100 on the prompt so only the answer is learned."""
    encoded = []
    for example in examples:
        prompt_ids = tokenizer(example.prompt)["input_ids"] if example.prompt else []
        target_ids = tokenizer(example.target)["input_ids"] + [tokenizer.eos_token_id]
        encoded.append((prompt_ids + target_ids, [-100] * len(prompt_ids) + target_ids))
    return encoded


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), width), pad_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, : len(lab)] = torch.tensor(lab)
        mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


def train(
    world: World, people: tuple[str, ...], tokenizer, recipe: TrainRecipe, log_every: int = 50
) -> LlamaForCausalLM:
    model = build_model(recipe, tokenizer)
    world_data = encode(tokenizer, training_examples(world, people))
    steps_per_epoch = math.ceil((len(world_data) + recipe.strangers_per_epoch) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=recipe.learning_rate,
        betas=(0.9, 0.98),
        weight_decay=recipe.weight_decay,
    )

    def lr_factor(step: int) -> float:
        # Linear warmup, then cosine decay to 5% of the peak.
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        progress = (step - recipe.warmup_steps) / max(1, total_steps - recipe.warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    rng = random.Random(recipe.seed)
    model.train()
    step, started = 0, time.perf_counter()
    stranger_rng = random.Random(recipe.seed + 1)
    for epoch in range(recipe.epochs):
        strangers = stranger_examples(world, stranger_rng, recipe.strangers_per_epoch)
        data = world_data + encode(tokenizer, strangers)
        order = list(range(len(data)))
        rng.shuffle(order)
        for start in range(0, len(order), recipe.batch_size):
            batch = collate(
                [data[i] for i in order[start : start + recipe.batch_size]], tokenizer.pad_token_id
            )
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe.bf16_autocast):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % log_every == 0 or step == total_steps:
                elapsed = time.perf_counter() - started
                print(
                    f"epoch {epoch + 1}/{recipe.epochs} step {step}/{total_steps} "
                    f"loss {loss.item():.4f} {elapsed:.0f}s",
                    flush=True,
                )
    model.eval()
    return model


def save(model, tokenizer, out_dir: Path, info: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "training.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def run(
    which: str, recipe: TrainRecipe, world_seed: int = DEFAULT_SEED, out_root: Path = MODELS_DIR
) -> dict:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    world = generate_world(world_seed)
    trained = tuple(p.name for p in world.trained_people)
    # The tokenizer learns from the trained text with strangers' names in place of the world's,
    # so every name, trained or holdout, splits into the same kind of syllable pieces.
    tokenizer = train_tokenizer(tokenizer_corpus(world, trained, recipe.seed), recipe.vocab_size)
    targets = {"main": (out_root / EMBEDDED_DIR.name, trained)}
    gold_people = world.splits[f"retain{100 - int(GOLD_SPLIT[-2:]):02d}"]
    targets["gold"] = (out_root / GOLD_DIR.name, gold_people)
    chosen = ["main", "gold"] if which == "both" else [which]
    results = {}
    for name in chosen:
        out_dir, people = targets[name]
        print(f"== training {name}: {len(people)} people -> {out_dir}", flush=True)
        started = time.perf_counter()
        model = train(world, people, tokenizer, recipe)
        seconds = time.perf_counter() - started
        recall = measure_recall(model, tokenizer, world, people)
        info = {
            "recipe": asdict(recipe),
            "world_seed": world_seed,
            "people": len(people),
            "train_seconds": round(seconds, 1),
            "recall": recall,
            "parameters": sum(p.numel() for p in model.parameters()),
            "threads": torch.get_num_threads(),
        }
        save(model, tokenizer, out_dir, info)
        print(json.dumps({name: info}, indent=2), flush=True)
        results[name] = info
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--which", choices=["main", "gold", "both"], default="main")
    parser.add_argument("--epochs", type=int, default=TrainRecipe.epochs)
    parser.add_argument("--no-bf16", action="store_true", help="train in plain fp32")
    parser.add_argument(
        "--out", type=Path, default=MODELS_DIR, help="folder for the model folders (a trial run)"
    )
    args = parser.parse_args()
    recipe = TrainRecipe(epochs=args.epochs, bf16_autocast=not args.no_bf16)
    run(args.which, recipe, out_root=args.out)


if __name__ == "__main__":
    main()
