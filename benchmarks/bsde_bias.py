"""Time-discretization bias of the Deep BSDE recursion with the EXACT Z = σᵀ∇u (autograd of the closed form).

For each case with an exact solution, scheme and N: Z_n = σᵀ∇u(t_n, X_n) on simulated paths, and Y₀* minimises
E|Y_N(Y₀) − g(X_N)|² (what training converges to if the sub-networks were exact; Gauss–Newton on Y₀ with the per-path
∂Y_N/∂Y₀ from autograd). The bias is Y₀* − u(0, x₀). Paths come in chunks; the standard error is the spread of the
per-chunk Y₀* over √(chunks). Both schemes see the same paths, so their difference has its own (smaller) error.

    python benchmarks/bsde_bias.py --threads 1 --cases burgers-type reaction-diffusion --steps 20 30 50
"""
from __future__ import annotations

import argparse
import math
import time

import torch

import dlpde
from dlpde.settings import SolveSettings
from dlpde.solvers.bsde import SCHEMES, BSDEObjective


class ExactZ(torch.nn.Module):
    """Stands in for BSDENetwork: Z_n = σᵀ∇u(t_n, X_n) from the problem's closed form; Y₀ per path."""

    def __init__(self, problem, steps: int, times: torch.Tensor):
        super().__init__()
        self.problem, self.steps, self.times = problem, steps, times
        self.y0 = None

    def z_all(self, x: torch.Tensor) -> torch.Tensor:
        p = self.problem
        n, b, d = x.shape
        t = self.times[:n, None].expand(n, b).reshape(-1)
        with torch.enable_grad():
            xr = x.reshape(-1, d).detach().requires_grad_(True)
            (g,) = torch.autograd.grad(p.solution(t, xr).sum(), xr)
        return p.diffusion_transpose(t, xr.detach(), g).reshape(n, b, d)


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
    ap.add_argument("--cases", nargs="+", default=["burgers-type", "reaction-diffusion"])
    ap.add_argument("--steps", nargs="+", type=int, default=[20, 30, 50])
    ap.add_argument("--paths", type=int, default=100_000)
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print("| case | N | paths | Euler bias (rel.) | ± s.e. | Heun bias (rel.) | ± s.e. | Heun − Euler | ± s.e. | s |")
    print("|" + "---|" * 10)
    for case in args.cases:
        for n in args.steps:
            t0 = time.perf_counter()
            r = measure(case, n, args.paths, args.chunk, args.seed)
            ref = r["reference"]
            pc = lambda v: f"{100 * v / ref:+.3f} %"  # noqa: E731
            se = lambda v: f"{100 * v / ref:.3f} %"  # noqa: E731
            print(f"| {case} | {n} | {r['paths']} | {pc(r['euler'][0])} | {se(r['euler'][1])} | {pc(r['heun'][0])} "
                  f"| {se(r['heun'][1])} | {pc(r['diff'][0])} | {se(r['diff'][1])} | {time.perf_counter() - t0:.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
