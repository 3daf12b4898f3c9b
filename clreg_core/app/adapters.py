"""Finished runs' unlearned models in the page's process, at the cost of their LoRA weights.

A run keeps only its LoRA weights (a few hundred KB on the embedded model). To answer a free
question or write its adapter download, the weights are put into a *slot*: one shared copy of
the original model wrapped with a LoRA of the same shape, built once per shape and reused by
every run and session. Rebuilding a whole model per run instead kept one copy of the weights
per page for as long as the page lived, and the server's memory grew with every run.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from clreg_core.config import RunConfig

SLOTS = 2  # shapes kept at once: the default run's, and one other


@dataclass
class Slot:
    """The original model with an empty LoRA of one shape; one user at a time."""

    model: object  # a peft PeftModel on the CPU
    loaded: object  # the LoadedModel it wraps (tokenizer, prompt style, spec)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _shape(config: RunConfig) -> tuple:
    """What decides a LoRA's tensors: runs alike in these share a slot."""
    return (config.model, config.lora_rank, config.lora_alpha, tuple(config.target_modules))


class Slots:
    """At most `capacity` slots, the least recently used dropped first."""

    def __init__(self, capacity: int = SLOTS) -> None:
        self.capacity = capacity
        self._slots: OrderedDict[tuple, Slot] = OrderedDict()
        self._lock = threading.Lock()  # builds take turns; a build is ~1 s on the embedded model

    def get(self, config: RunConfig) -> Slot:
        key = _shape(config)
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = _build(config)
                while len(self._slots) > self.capacity:
                    self._slots.popitem(last=False)
            self._slots.move_to_end(key)
            return slot


def _build(config: RunConfig) -> Slot:
    from clreg_core.engine.lora import attach_lora
    from clreg_core.models.loading import load_model

    loaded = load_model(config.model, device="cpu")
    model = attach_lora(loaded.model, config)
    model.eval()
    return Slot(model, loaded)


SHARED = Slots()


@dataclass
class KeptAdapter:
    """One finished run's unlearned model, as its LoRA weights (CPU tensors)."""

    label: str
    config: RunConfig
    weights: dict
    slots: Slots = field(default=SHARED, repr=False)

    @property
    def loaded(self):
        """The original model's LoadedModel (its spec, tokenizer and prompt style)."""
        return self.slots.get(self.config).loaded

    def ask(self, question: str) -> tuple[str, str]:
        """The original model's answer and this run's unlearned model's."""
        from clreg_core.app.explore import ask_before_after

        slot = self.slots.get(self.config)
        with slot.lock:
            self._put_in(slot)
            loaded = slot.loaded
            return ask_before_after(slot.model, loaded.tokenizer, loaded.prompt_style, question)

    def save_pretrained(self, folder, safe_serialization: bool = True, state_dict=None) -> None:
        """Write the adapter as peft does (`write_run_folder` calls this as on a model)."""
        slot = self.slots.get(self.config)
        with slot.lock:
            self._put_in(slot)
            slot.model.save_pretrained(
                folder, safe_serialization=safe_serialization, state_dict=state_dict
            )

    def _put_in(self, slot: Slot) -> None:
        """Overwrite every LoRA tensor of the slot: one left over would be another run's."""
        from clreg_core.engine.lora import load_trainable_state

        names = {n for n, p in slot.model.named_parameters() if p.requires_grad}
        if names != set(self.weights):
            raise RuntimeError(f"run {self.label!r}: its LoRA weights do not fit the slot")
        load_trainable_state(slot.model, self.weights)
