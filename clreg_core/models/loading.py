"""Load a chosen model and its tokenizer, from the repo, the SmolLM2 cache, a folder or the hub.

`trust_remote_code` is never enabled: a hub model that needs custom code is refused with a clear
message rather than running code from the internet.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from clreg_core.errors import ModelUnavailableError, UserInputError, redact_paths
from clreg_core.hub import require_hub
from clreg_core.models import smollm2
from clreg_core.models.registry import ModelSpec, offline_model_names, resolve_model
from clreg_core.prompting import PromptStyle


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: object  # a transformers PreTrainedModel
    tokenizer: object
    prompt_style: PromptStyle
    load_seconds: float


def loading_stage(choice: str | ModelSpec) -> str:
    """What loading this model will do, in words for a progress line: SmolLM2's first load
    converts its GGUF file (a minute), which "loading the model" alone would hide."""
    try:
        spec = choice if isinstance(choice, ModelSpec) else resolve_model(choice)
    except UserInputError:  # the load itself will say what is wrong
        spec = None
    if spec is not None and spec.kind == "gguf-package" and smollm2.needs_conversion():
        return smollm2.CONVERTING
    return "loading the model"


def local_folder_for(spec: ModelSpec) -> str:
    """A folder on disk holding the model, fetching nothing unless the spec is a hub model that
    is neither cached nor reachable (then a clear error within a few seconds)."""
    if spec.kind in ("embedded", "local"):
        return spec.source
    if spec.kind == "gguf-package":
        return str(smollm2.source_folder())
    cached = _hub_cache_folder(spec.source)
    if cached:
        return cached
    require_hub(f"model {spec.source!r}", offline_model_names())
    return spec.source


def _hub_cache_folder(repo_id: str) -> str | None:
    """The model's folder in the local Hugging Face cache, if a complete copy is there."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, local_files_only=True)
    except Exception:  # not cached (the hub library raises several types for this)
        return None


LOG = logging.getLogger("clreg_lab")
# Two `from_pretrained` calls at once on different threads can fail with "Cannot copy out of meta
# tensor" (the app's users, a run loading its gold model), so loads in one process take turns.
_LOADING = threading.RLock()


def _unlocked_in_child() -> None:
    """A ZeroGPU worker is forked from the page's process, maybe while one of its threads holds
    _LOADING (a free question loading a model): the child would inherit it held forever."""
    global _LOADING
    _LOADING = threading.RLock()


os.register_at_fork(after_in_child=_unlocked_in_child)


def load_model(choice: str | ModelSpec, device: str = "cpu", dtype=None) -> LoadedModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = choice if isinstance(choice, ModelSpec) else resolve_model(choice)
    started = time.perf_counter()
    folder = local_folder_for(spec)
    try:
        with _LOADING:  # see _LOADING
            tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
            model = AutoModelForCausalLM.from_pretrained(
                folder, trust_remote_code=False, dtype=dtype or torch.float32
            )
    except (OSError, ValueError) as error:
        # The library's message names files on this server: show the folder as the user gave
        # it and no other path (the log keeps the original).
        LOG.warning("could not load model %s: %s", spec.key, error)
        said = redact_paths(str(error).replace(str(folder), spec.key), keep=(spec.key,))
        raise ModelUnavailableError(f"could not load model {spec.key!r}: {said}") from error
    if tokenizer.pad_token is None:
        # Batched generation and padded training batches need a pad id; masks keep it inert.
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device).eval()
    if str(device) == "cpu":
        # On CPU, PyTorch's fused attention has a slow backward for these short rows: plain
        # attention made a default NPO + CLReg step 20% faster on the embedded model and 12% on
        # SmolLM2-135M (same numbers up to rounding); GPUs keep the fused kernel.
        model.set_attn_implementation("eager")
    style: PromptStyle
    if spec.prompt_style == "auto":
        style = "chat" if getattr(tokenizer, "chat_template", None) else "qa"
    else:
        style = spec.prompt_style
    return LoadedModel(spec, model, tokenizer, style, time.perf_counter() - started)
