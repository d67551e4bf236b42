"""bf16 matmul speed of a frozen linear layer's forward against its input gradient, per shape.

A soft-token train step back-propagates to the inputs of every frozen ``nn.Linear``: the forward
is ``x @ W.T`` and the input gradient ``grad @ W``, the same number of multiply-adds with the
weight read in the other orientation. Where the CPU's GEMM kernels favour one orientation, the
backward costs more than a forward; this prints both times side by side (medians) for SmolLM2's
projection shapes at 800 tokens (batch 8 x 100), and what a transposed copy of the weight gives.

    python benchmarks/gemm_orientation.py [--tokens 800] [--repeats 30]
"""

from __future__ import annotations

import argparse

import torch
from common import median_time

from personalize.evaluation.provenance import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=800)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    torch.manual_seed(0)
    # (in, out) of SmolLM2-135M's projections: q/o, k/v (3 KV heads), gate/up, down
    for fan_in, fan_out in ((576, 576), (576, 192), (576, 1536), (1536, 576)):
        x = torch.randn(args.tokens, fan_in, dtype=torch.bfloat16)
        weight = torch.randn(fan_out, fan_in, dtype=torch.bfloat16)  # nn.Linear layout [out, in]
        grad = torch.randn(args.tokens, fan_out, dtype=torch.bfloat16)
        transposed = weight.t().contiguous()
        forward = median_time(lambda x=x, weight=weight: torch.nn.functional.linear(x, weight), args.repeats)
        backward = median_time(lambda grad=grad, weight=weight: grad @ weight, args.repeats)
        backward_t = median_time(lambda grad=grad, transposed=transposed: torch.nn.functional.linear(grad, transposed), args.repeats)
        print(f"[{args.tokens}, {fan_in}] -> {fan_out:5d}: forward x @ W.T {forward * 1e3:6.3f} ms | input gradient "
              f"grad @ W {backward * 1e3:6.3f} ms ({backward / forward:.2f}x) | with W.T copied "
              f"{backward_t * 1e3:6.3f} ms ({backward_t / forward:.2f}x)")


if __name__ == "__main__":
    main()
