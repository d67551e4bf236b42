"""Why the LM head gets a contiguous input: PyTorch's CPU matmul on the strided slice
``hidden[:, -1:, :]`` (what ``logits_to_keep=1`` passes, batch > 1) copies the vocabulary matrix
per row. Prints the head's time on the slice vs on a contiguous copy, same model, same values.

    python benchmarks/lm_head_slice.py [--batch 8]
"""

from __future__ import annotations

import argparse

import torch
from common import median_time

from personalize.cli.common import quiet_libraries as _quiet_libraries
from personalize.models import load_base_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    _quiet_libraries()
    loaded = load_base_model(args.model)
    head = loaded.model.get_output_embeddings()
    hidden = torch.randn(args.batch, 100, loaded.hidden_size, dtype=loaded.dtype)
    with torch.no_grad():
        strided = median_time(lambda: torch.nn.functional.linear(hidden[:, -1:, :], head.weight), 3)
        contiguous = median_time(lambda: torch.nn.functional.linear(hidden[:, -1:, :].contiguous(), head.weight), 3)
        full = median_time(lambda: loaded.model(inputs_embeds=hidden, use_cache=False, logits_to_keep=1), 3)
    print(f"{loaded.name} ({loaded.info()['dtype']}), batch {args.batch}: LM head on the strided slice {1000 * strided:.1f} ms, "
          f"on a contiguous copy {1000 * contiguous:.1f} ms ({strided / contiguous:.0f}x); "
          f"whole forward with logits_to_keep=1 (hook on) {1000 * full:.1f} ms")


if __name__ == "__main__":
    main()
