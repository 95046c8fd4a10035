"""Time-discretization bias of the Deep BSDE recursion with the EXACT Z = σᵀ∇u (autograd of the closed form).

For each case with an exact solution, scheme and N: Z_n = σᵀ∇u(t_n, X_n) on simulated paths, and Y₀* minimises
E|Y_N(Y₀) − g(X_N)|² (what training converges to if the sub-networks were exact; Gauss–Newton on Y₀ with the per-path
∂Y_N/∂Y₀ from autograd). The bias is Y₀* − u(0, x₀). Paths come in chunks; the standard error is the spread of the
per-chunk Y₀* over √(chunks). Both schemes see the same paths, so their difference has its own (smaller) error.

    python benchmarks/bsde_bias.py --threads 1                            # the bias table of benchmarks/BSDE.md
    python benchmarks/bsde_bias.py --threads 1 --cases burgers-type --steps 20 30 50
    python benchmarks/bsde_bias.py --tiny --out /tmp/BSDE.md              # a few paths: checks the script only

Each (case, N) is stored as ``bias-<case>-N<N>.json`` in the folder of BSDE.md's runs (``benchmarks/bsde/``) and
BSDE.md is rebuilt (``benchmarks/bsde.py`` writes it; a run replaces only its own rows). Paths per case (``PATHS``):
10⁶ in chunks of 20 000 for burgers-type, 10⁵ in chunks of 10 000 for reaction-diffusion, unless ``--paths``.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import _report  # noqa: E402
import bsde  # noqa: E402  (BSDE.md's writer)

import dlpde  # noqa: E402
from dlpde.settings import SolveSettings  # noqa: E402
from dlpde.solvers.bsde import SCHEMES, BSDEObjective  # noqa: E402

PATHS = {"burgers-type": (1_000_000, 20_000), "reaction-diffusion": (100_000, 10_000)}  # (paths, chunk)
TINY = dict(steps=[4], paths=64, chunk=32)


class ExactZ(torch.nn.Module):
    """Stands in for BSDENetwork: Z_n = σᵀ∇u(t_n, X_n) from the problem's closed form; Y₀ per path."""

    def __init__(self, problem, steps: int, times: torch.Tensor):
        super().__init__()
        self.problem, self.steps, self.times = problem, steps, times
        self.y0 = None

    def exact_z(self, times: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Z at each row of x (n, b, d), row k at times[k]."""
        p = self.problem
        n, b, d = x.shape
        t = times[:n, None].expand(n, b).reshape(-1)
        with torch.enable_grad():
            xr = x.reshape(-1, d).detach().requires_grad_(True)
            (g,) = torch.autograd.grad(p.solution(t, xr).sum(), xr)
        return p.diffusion_transpose(t, xr.detach(), g).reshape(n, b, d)

    @property
    def z0(self) -> torch.Tensor:
        return self.exact_z(self.times, self.problem.x0.to(self.times)[None, None])[0, 0]

    def subnetworks(self, x: torch.Tensor) -> torch.Tensor:  # Z_1 … Z_{N−1}
        return self.exact_z(self.times[1:], x)


def optimal_y0(obj: BSDEObjective, x, dw, start: float, iters: int = 6) -> float:
    """argmin over Y₀ of mean (Y_N − g)² by Gauss–Newton (exact in one step where Y_N is affine in Y₀)."""
    y0 = torch.full((x.shape[1],), start, dtype=x.dtype)
    for _ in range(iters):
        y0 = y0.detach().requires_grad_(True)
        obj.net.y0 = y0
        yN, g = obj.terminal_values(x, dw)
        (a,) = torch.autograd.grad(yN.sum(), y0)  # per-path ∂Y_N/∂Y₀ (paths are independent)
        r = (yN - g).detach()
        step = float((r * a).mean() / (a * a).mean())
        y0 = y0.detach() - step
        if abs(step) < 1e-13:
            break
    return float(y0[0])


def measure(case: str, steps: int, paths: int, chunk: int, seed: int) -> dict:
    problem = dlpde.problems.make(case)
    ref = problem.reference_value()
    s = SolveSettings(batch=chunk, dtype="float64", seed=seed)
    est = {k: [] for k in SCHEMES}
    net = ExactZ(problem, steps, None)
    objs = {k: BSDEObjective(problem, net, s, scheme=k) for k in SCHEMES}
    net.times = objs["euler"].times
    gen = s.generator(offset=11)
    for _ in range(paths // chunk):
        x, dw = objs["euler"].sample(chunk, generator=gen)
        for k in SCHEMES:
            est[k].append(optimal_y0(objs[k], x, dw, ref))
    out = {"case": case, "N": steps, "paths": (paths // chunk) * chunk, "reference": ref}
    m = len(est["euler"])
    for k in SCHEMES:
        v = torch.tensor(est[k], dtype=torch.float64)
        out[k] = (float(v.mean()) - ref, float(v.std() / math.sqrt(m)))
    diff = torch.tensor(est["heun"], dtype=torch.float64) - torch.tensor(est["euler"], dtype=torch.float64)
    out["diff"] = (float(diff.mean()), float(diff.std() / math.sqrt(m)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", nargs="+", default=list(PATHS))
    ap.add_argument("--steps", nargs="+", type=int, help="time steps N (default 20 30 50)")
    ap.add_argument("--paths", type=int, help="paths per (case, N) (default: PATHS of the case, else 100 000)")
    ap.add_argument("--chunk", type=int, help="paths per chunk (default: PATHS of the case, else 5000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    ap.add_argument("--out", default=str(bsde.OUT), help="BSDE.md to rebuild (the runs go in the folder beside it)")
    ap.add_argument("--tiny", action="store_true", help=f"{TINY}: checks the script, not the bias (needs --out)")
    args = ap.parse_args(argv)
    _report.tiny_needs_out(ap, args, bsde.OUT)
    torch.set_num_threads(args.threads)
    folder = _report.results_folder(Path(args.out))
    stamp = {"command": _report.command("bsde_bias.py", argv, args.threads), "machine": _report.machine(args.threads),
             "threads": args.threads, "tiny": args.tiny}
    print("| case | N | paths | euler bias | ± s.e. | heun bias | ± s.e. | heun − euler | ± s.e. | s |")
    print("|" + "---|" * 10)
    for case in args.cases:
        paths, chunk = PATHS.get(case, (100_000, 5000))
        if args.tiny:
            paths, chunk = TINY["paths"], TINY["chunk"]
        paths, chunk = args.paths or paths, args.chunk or chunk
        for n in args.steps or (TINY["steps"] if args.tiny else [20, 30, 50]):
            t0 = time.perf_counter()
            r = measure(case, n, paths, chunk, args.seed)
            ref = r["reference"]
            rel = {k: [r[k][0] / ref, r[k][1] / ref] for k in ("euler", "heun", "diff")}
            result = {"kind": "bias", "case": case, "N": n, "paths": r["paths"], "chunk": chunk, "seed": args.seed,
                      "reference": ref, **rel, "seconds": round(time.perf_counter() - t0, 1), **stamp,
                      **_report.when()}
            _report.store(folder, f"bias-{case}-N{n}", result)
            print(bsde.bias_row(result)[:-1] + f"| {result['seconds']:.0f} |", flush=True)
    print(f"wrote {bsde.write_bsde(Path(args.out))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
