"""Training throughput of a soft-token adapter vs forward-only throughput, same model and batch.

Back-propagating to the inputs of a frozen model costs about one more forward (no weight
gradients are needed), so a train step should run at >= 0.5x the forward-only token rate.
Measures, side by side in one run (median of --repeats after a warm-up):
  forward : the frozen base model on the assembled inputs_embeds, no grad (inference, SDPA);
  train   : embed (adapter) + forward + loss + backward + AdamW step, as the trainer runs it
            (eager attention: the fused SDPA backward is slow on CPU; right padding, and the
            prompt positions before the soft tokens run without autograd as a KV cache);
  train, compiled: the same step with the decoder layers under torch.compile (the trainer's
            ``compile`` setting); its one-off compilation is timed and reported apart.
Tokens are real (non-padding) positions.

    python benchmarks/train_throughput.py [--method e2p] [--batch 8] [--tokens 100] [--no-compile]

With ``--profile``, where the time goes instead: torch.profiler records ``--profile-steps``
forward-only passes and as many (eager) train steps after a warm-up of each, and prints, op by op
(self CPU time per step; CUDA time too on a GPU), the forward, the train step, and the train
step's excess over two forwards (the ~0.5x limit: one forward plus a backward to the inputs of
about the same cost), so the gap between the measured ratio and 0.5x is explained by the ops
that make it:

    python benchmarks/train_throughput.py --profile [--profile-steps 3] [--top 25] [--out runs/profile.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch
from common import TrainBench, times, train_bench

from personalize.cli.common import quiet_libraries as _quiet_libraries
from personalize.compare.timing import LoadMonitor, assess, run_interleaved, spread, table_note
from personalize.evaluation.provenance import machine
from personalize.models import load_base_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--method", default="e2p", choices=["e2p", "persoma", "prompt"])
    parser.add_argument("--num-tokens", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=100, help="prompt+answer tokens per example (LaMP-7 is ~100)")
    parser.add_argument("--answer", type=int, default=30, help="answer tokens per example (the loss positions)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled train step")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", action="store_true",
                        help="instead: torch.profiler over --profile-steps forwards and train steps (eager); prints the "
                             "top ops by self CPU time of each and, op by op, what a train step spends beyond 2 forwards")
    parser.add_argument("--profile-steps", type=int, default=3)
    parser.add_argument("--top", type=int, default=25, help="ops listed by --profile")
    parser.add_argument("--out", type=Path, default=None, help="--profile: also write the op table as JSON here")
    args = parser.parse_args()
    _quiet_libraries()
    loaded = load_base_model(args.model, dtype=args.dtype, device=args.device)
    bench = train_bench(loaded, method=args.method, num_tokens=args.num_tokens, batch=args.batch, tokens=args.tokens,
                        answer=args.answer, compile=not args.no_compile and not args.profile)
    if args.profile:
        profile(bench, loaded, args)
        return
    real_tokens = bench.real_tokens

    with LoadMonitor() as monitor:  # forward and train step interleaved: load lands on both alike
        runs = run_interleaved({"forward": bench.timed(bench.forward_only), "train": bench.timed(bench.train_step)}, args.repeats)
        compiled_time = compile_seconds = None
        if bench.compiled.enabled:
            bench.use_compiled()
            start = time.perf_counter()
            bench.train_step()  # compiles (cached on disk by Inductor after the first run)
            compile_seconds = time.perf_counter() - start
            runs["train, compiled"] = times(bench.train_step, args.repeats, sync=bench.sync)
            compiled_time = statistics.median(runs["train, compiled"])
    fwd, trn = statistics.median(runs["forward"]), statistics.median(runs["train"])
    verdict = assess({name: spread(values) for name, values in runs.items()}, monitor.load)
    print(f"machine: {machine()}")
    print(f"model {loaded.name} ({loaded.info()['dtype']}), {args.method} N={args.num_tokens}, batch {args.batch} x "
          f"{args.tokens} tokens ({args.answer} answer), {bench.trainable:,} trainable, median of {args.repeats}")
    print(f"forward-only: {fwd:.3f} s/batch  {real_tokens / fwd:8.0f} tok/s")
    print(f"train step  : {trn:.3f} s/batch  {real_tokens / trn:8.0f} tok/s")
    if compiled_time is not None:
        print(f"train, compiled: {compiled_time:.3f} s/batch  {real_tokens / compiled_time:8.0f} tok/s  "
              f"(first call, compiling: {compile_seconds:.1f} s)")
    for label, seconds in (("eager", trn), ("compiled", compiled_time)):
        if seconds is not None:
            ratio = fwd / seconds
            print(f"training ({label}) / forward-only throughput: {ratio:.2f}x (target >= 0.5x): {'OK' if ratio >= 0.5 else 'MISSED'}")
    for name, values in runs.items():
        s = spread(values)
        print(f"  {name}: median {s['median']:.3f} s [quartiles {s['q1']:.3f}–{s['q3']:.3f}] over {s['n']} repeats")
    print(table_note(verdict, monitor.load, what="timings", passes=args.repeats))



_PHASES = ["phase: embed", "phase: forward", "phase: forward + loss", "phase: backward", "phase: optimizer"]


def _op_times(bench_fn: Any, steps: int, device: torch.device) -> dict[str, dict[str, float]]:
    """op name -> {"self_cpu_ms", "self_device_ms", "calls"} per step, from torch.profiler."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    bench_fn()  # warm-up, outside the profile
    with torch_profile(activities=activities) as prof:
        for _ in range(steps):
            bench_fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    out = {}
    for event in prof.key_averages():
        if event.key.startswith("phase: "):  # record_function ranges: their total time, not self
            out[event.key] = {"total_cpu_ms": event.cpu_time_total / 1000 / steps, "calls": event.count / steps}
            continue
        device_us = getattr(event, "self_device_time_total", None)
        if device_us is None:
            device_us = getattr(event, "self_cuda_time_total", 0.0)
        out[event.key] = {"self_cpu_ms": event.self_cpu_time_total / 1000 / steps,
                          "self_device_ms": (device_us or 0.0) / 1000 / steps, "calls": event.count / steps}
    return out


def profile(bench: TrainBench, loaded: Any, args: argparse.Namespace) -> None:
    """Print (and with --out, write) the top ops of a forward and of a train step, side by side."""
    from rich.console import Console
    from rich.table import Table

    device = loaded.device
    forward = _op_times(bench.forward_only, args.profile_steps, device)
    train = _op_times(bench.train_step, args.profile_steps, device)
    key = "self_device_ms" if device.type == "cuda" else "self_cpu_ms"
    phases = {name: {"forward_ms": round(forward.pop(name, {}).get("total_cpu_ms", 0.0), 3),
                     "train_ms": round(train.pop(name, {}).get("total_cpu_ms", 0.0), 3)}
              for name in sorted({n for n in (*forward, *train) if n.startswith("phase: ")}, key=_PHASES.index)}
    total_f = sum(v[key] for v in forward.values())
    total_t = sum(v[key] for v in train.values())
    names = sorted(set(forward) | set(train), key=lambda n: -max(train.get(n, {}).get(key, 0.0),
                                                                  forward.get(n, {}).get(key, 0.0)))[: args.top]
    what = "self CUDA" if device.type == "cuda" else "self CPU"
    table = Table(title=f"where the time goes ({what} ms per step, {args.profile_steps} profiled steps each): "
                        f"{loaded.name}, {args.method} N={args.num_tokens}, batch {args.batch} x {args.tokens}")
    for header in ("op", "forward ms", "calls", "train ms", "calls", "train − 2×forward ms", "% of train"):
        table.add_column(header, justify="left" if header == "op" else "right", no_wrap=header == "op")
    rows = []
    for name in names:
        f, t = forward.get(name, {}), train.get(name, {})
        fm, tm = f.get(key, 0.0), t.get(key, 0.0)
        rows.append({"op": name, "forward_ms": round(fm, 3), "forward_calls": f.get("calls", 0.0), "train_ms": round(tm, 3),
                     "train_calls": t.get("calls", 0.0), "excess_ms": round(tm - 2 * fm, 3),
                     "train_share": round(tm / total_t, 4) if total_t else None})
        table.add_row(name, f"{fm:.1f}", f"{f.get('calls', 0):.0f}", f"{tm:.1f}", f"{t.get('calls', 0):.0f}",
                      f"{tm - 2 * fm:+.1f}", f"{100 * tm / total_t:.1f}" if total_t else "–")
    console = Console(width=160)
    console.print(f"machine: {machine()}, torch threads {torch.get_num_threads()}")
    console.print(table)
    console.print(f"sum over all ops: forward {total_f:.1f} ms, train step {total_t:.1f} ms per step: profiled ratio "
                  f"(forward / train) {total_f / total_t:.2f}x (target >= 0.5x; the profiler adds its own overhead "
                  "per op, so compare with the unprofiled ratio of a run without --profile)")
    for side in ("forward", "train"):
        parts = [f"{name[7:]} {p[side + '_ms']:.1f}" for name, p in phases.items() if p[side + "_ms"]]
        console.print(f"{'forward-only' if side == 'forward' else 'train step'} phases (CPU ms per step, children "
                      f"included, profiler overhead too): " + ", ".join(parts))
    console.print("train − 2×forward: what an op costs a train step beyond two forwards; the largest positive "
                  "entries are what stands between the measured ratio and 0.5x.")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {"model": loaded.info(), "machine": machine(), "torch_threads": torch.get_num_threads(),
                  "method": args.method, "num_tokens": args.num_tokens, "batch": args.batch, "tokens": args.tokens,
                  "answer": args.answer, "steps": args.profile_steps, "time": key, "forward_total_ms": round(total_f, 3),
                  "train_total_ms": round(total_t, 3), "phases": phases, "ops": rows}
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        console.print(f"op table in {args.out}")


if __name__ == "__main__":
    main()
