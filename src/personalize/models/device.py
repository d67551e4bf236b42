"""Device and dtype resolution.

``auto`` dtype means bf16 where it is fast (a GPU, or a CPU with AVX512-BF16 / AMX), fp32 elsewhere.
On a CPU without native bf16, bf16 matmuls are emulated and slower than fp32.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from personalize.errors import ConfigError

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """The first CPU's model name and flags from Linux ``/proc/cpuinfo`` (empty elsewhere)."""
    if platform.system() != "Linux":
        return "", frozenset()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "", frozenset()
    name, flags = "", frozenset()
    for line in text.splitlines():
        if line.startswith("model name") and not name:
            name = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = frozenset(line.split(":", 1)[1].split())
    return name, flags


def cpu_has_native_bf16() -> bool:
    """True when the CPU advertises AVX512-BF16 or AMX-BF16 (Linux ``/proc/cpuinfo`` flags)."""
    return bool({"avx512_bf16", "amx_bf16"} & _cpuinfo()[1])


def cpu_description() -> dict[str, object]:
    """The CPU a measurement ran on: model, cores, and its bf16 matmul path.

    Timing ratios depend on it: AMX tiles make bf16 matmuls several times faster than
    AVX512-BF16, so the same train step is matmul-bound on one CPU and overhead-bound on another.
    """
    import os

    name, flags = _cpuinfo()
    bf16 = "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else "none"
    return {"model": name or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "bf16_matmul": bf16}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {device!r}: {exc}") from None


def resolve_dtype(dtype: str | torch.dtype = "auto", device: str | torch.device = "cpu") -> torch.dtype:
    """Map ``auto``/``bf16``/``fp32``/``fp16`` (or a torch dtype) to a torch dtype for ``device``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        dev = resolve_device(device)
        if dev.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if dev.type == "cpu" and cpu_has_native_bf16():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(sorted(_DTYPES))}")
    return _DTYPES[dtype]


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
