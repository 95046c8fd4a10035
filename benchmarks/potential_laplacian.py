"""Milliseconds for ∇Φ and ΔₓΦ of the OT-Flow potential: the exact one-pass formula against autograd.

Same network (``dlpde.nn.PotentialNet``: width m, M = 2 ResNet nodes, logcosh, r = min(10, d+1)), same batch of
points s = (x, t), float32, CPU (``--device cuda`` for a GPU). Methods:
  exact     ``PotentialNet.grad_laplacian``: backward recursion for ∇Φ, OT-Flow's trace formula, O(m²d) per sample
  jet       the generic forward Laplacian (``dlpde.derivatives.laplacian(method="forward")``)
  autograd  one reverse pass for ∇Φ and one more per coordinate for the Hessian diagonal (d + 1 passes)
"value" times the derivatives alone; "train" adds the backward pass through them to the weights (what a training
step of the MFG solver pays). The values agree to float32 round-off (checked before timing; the float64 equality is
a unit test).

    python benchmarks/potential_laplacian.py --threads 1 --repeats 9      # the CPU table of benchmarks/POTENTIAL.md
    python benchmarks/potential_laplacian.py --dims 10,100 --batch 4096 --device cuda --repeats 5   # its GPU table
    python benchmarks/potential_laplacian.py --report-only                # rebuild POTENTIAL.md from the stored runs
    python benchmarks/potential_laplacian.py --tiny --out /tmp/POTENTIAL.md   # d = 2, tiny net: the script only

Each device's run (cpu, cuda) is stored in ``benchmarks/potential/<device>.json``; a run replaces only its own
device's table and the markdown is rebuilt from all stored runs (CPU first). ``--out -`` prints only.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402

OUT = HERE / "POTENTIAL.md"
TINY = dict(dims="2", width=8, batch=16, repeats=1)


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


def section(run: dict) -> list[str]:
    lines = [f"`{run['command']}` — {run['device_name']}, float32, torch {run['torch']}; median of {run['repeats']} "
             "runs, milliseconds. *value*: ∇Φ and ΔₓΦ; *train*: plus the backward pass to the weights. Speed-up = "
             "autograd / exact." + (" `--tiny`: checks the script, not the numbers." if run.get("tiny") else ""), "",
             "| d | m | batch | exact value | jet value | autograd value | speed-up value | exact train | jet train | "
             "autograd train | speed-up train |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in run["rows"]:
        lines.append(f"| {r['d']} | {r['m']} | {r['batch']} | {r['exact_value']:.2f} | {r['jet_value']:.2f} | "
                     f"{r['autograd_value']:.2f} | {r['speedup_value']:.1f}× | "
                     f"{r['exact_train']:.2f} | {r['jet_train']:.2f} | {r['autograd_train']:.2f} | "
                     f"{r['speedup_train']:.1f}× |")
    return lines


def write(out: Path) -> Path:
    runs = sorted(_report.stored(_report.results_folder(out)), key=lambda r: (r["device"] != "cpu", r["device"]))
    lines = ["# OT-Flow potential: exact gradient + Laplacian against autograd", "",
             f"One table per device, each from its stored run in `{_report.results_folder(out).name}/` beside this "
             "file (rebuilt by `python benchmarks/potential_laplacian.py --report-only`).", ""]
    for run in runs:
        if run["device"] != "cpu":
            lines += [f"## {run['device_name']}" + (f" (measured {run['measured']})" if run.get("measured") else ""),
                      ""]
        lines += section(run) + [""]
    return _report.write(out, "\n".join(lines))


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", default="2,10,50,100")
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(OUT), help="markdown file (the runs are stored beside it), - to print only")
    ap.add_argument("--report-only", action="store_true", help="rebuild the markdown from the stored runs")
    ap.add_argument("--tiny", action="store_true", help=f"{TINY}: checks the script, not the timings (needs --out)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, OUT)
    if args.report_only:
        print(f"wrote {write(Path(args.out))}")
        return ""
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks/potential_laplacian.py: --device cuda but no CUDA GPU is visible to torch; nothing measured")
        return ""
    if args.tiny:
        for k, v in TINY.items():
            setattr(args, k, v)
    torch.set_num_threads(args.threads)
    methods = ("exact", "jet", "autograd")
    rows = [bench(int(d), args.width, args.batch, args.repeats, args.device, methods) for d in args.dims.split(",")]
    for r in rows:
        r["speedup_value"] = r["autograd_value"] / r["exact_value"]
        r["speedup_train"] = r["autograd_train"] / r["exact_train"]
    cuda = args.device.startswith("cuda")
    dev = torch.cuda.get_device_name() if cuda else \
        f"CPU ({platform.processor() or platform.machine()}, {args.threads} thread)"
    run = {"device": "cuda" if cuda else "cpu", "device_name": dev, "repeats": args.repeats, "threads": args.threads,
           "torch": torch.__version__, "command": _report.command("potential_laplacian.py", argv, args.threads),
           "machine": _report.machine(args.threads), "tiny": args.tiny, **_report.when(), "rows": rows}
    text = "\n".join(section(run)) + "\n"
    print(text)
    if args.out != "-":
        _report.store(_report.results_folder(Path(args.out)), run["device"], run)
        print(f"wrote {write(Path(args.out))}")
    return text


if __name__ == "__main__":
    main()
