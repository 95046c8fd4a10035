"""Milliseconds for ∇Φ and ΔₓΦ of the OT-Flow potential: the exact one-pass formula against autograd.

Same network (``dlpde.nn.PotentialNet``: width m, M = 2 ResNet nodes, logcosh, r = min(10, d+1)), same batch of
points s = (x, t), float32, CPU (``--device cuda`` for a GPU). Methods:
  exact     ``PotentialNet.grad_laplacian``: backward recursion for ∇Φ, OT-Flow's trace formula, O(m²d) per sample
  jet       the generic forward Laplacian (``dlpde.derivatives.laplacian(method="forward")``)
  autograd  one reverse pass for ∇Φ and one more per coordinate for the Hessian diagonal (d + 1 passes)
"value" times the derivatives alone; "train" adds the backward pass through them to the weights (what a training
step of the MFG solver pays). The values agree to float32 round-off (checked before timing; the float64 equality is
a unit test). Run: ``python benchmarks/potential_laplacian.py`` (prints a markdown table, writes
benchmarks/POTENTIAL.md unless ``--out -``).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch


def _timeit(fn, repeats: int, sync) -> float:
    fn()
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bench(d: int, width: int, batch: int, repeats: int, device: str, methods) -> dict:
    from dlpde.derivatives import laplacian
    from dlpde.nn import PotentialNet

    torch.manual_seed(0)
    net = PotentialNet(d, width=width, layers=2).to(device)
    s = torch.randn(batch, d + 1, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    fns = {
        "exact": lambda: net.grad_laplacian(s)[1:],
        "jet": lambda: (lambda f: (f.directional, f.second))(laplacian(net, s, method="forward", dims=d)),
        "autograd": lambda: (lambda f: (f.directional, f.second))(laplacian(net, s, method="autograd", dims=d)),
    }
    ref = fns["exact"]()
    row = {"d": d, "m": width, "batch": batch}
    for name in methods:
        g, lap = fns[name]()
        scale = float(ref[1].detach().abs().max()) + 1.0
        if not (torch.allclose(g, ref[0], atol=1e-4 * scale) and torch.allclose(lap, ref[1], atol=1e-4 * scale)):
            raise RuntimeError(f"{name} disagrees with the exact formula at d={d}")
        row[f"{name}_value"] = _timeit(lambda: fns[name](), repeats, sync)

        def train(f=fns[name]):
            net.zero_grad(set_to_none=True)
            g, lap = f()
            ((g * g).sum() + lap.sum()).backward()
        row[f"{name}_train"] = _timeit(train, repeats, sync)
    return row


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", default="2,10,50,100")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(Path(__file__).with_name("POTENTIAL.md")), help="markdown file, - for none")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    methods = ("exact", "jet", "autograd")
    rows = [bench(int(d), args.width, args.batch, args.repeats, args.device, methods) for d in args.dims.split(",")]
    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({platform.processor() or platform.machine()}, {args.threads} thread)"
    lines = [
        "# OT-Flow potential: exact gradient + Laplacian against autograd",
        "",
        f"`python benchmarks/potential_laplacian.py --dims {args.dims} --width {args.width} --batch {args.batch} "
        f"--device {args.device}` — {dev}, float32, torch {torch.__version__}; median of {args.repeats} runs, "
        "milliseconds. *value*: ∇Φ and ΔₓΦ; *train*: plus the backward pass to the weights. Speed-up = autograd / exact.",
        "",
        "| d | m | batch | exact value | jet value | autograd value | speed-up value | exact train | jet train | "
        "autograd train | speed-up train |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['d']} | {r['m']} | {r['batch']} | {r['exact_value']:.2f} | {r['jet_value']:.2f} | "
                     f"{r['autograd_value']:.2f} | {r['autograd_value'] / r['exact_value']:.1f}× | "
                     f"{r['exact_train']:.2f} | {r['jet_train']:.2f} | {r['autograd_train']:.2f} | "
                     f"{r['autograd_train'] / r['exact_train']:.1f}× |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return text


if __name__ == "__main__":
    main()
