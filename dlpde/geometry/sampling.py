"""Low-level samplers of the unit cube (pseudo-random or scrambled Sobol) on a chosen device."""
from __future__ import annotations

import torch

METHODS = ("pseudo", "sobol")


def check_count(n: int, name: str = "n") -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {n!r}")


def uniform_cube(n: int, dim: int, *, generator: torch.Generator | None, method: str = "pseudo",
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` points in [0, 1)^dim, float64, on ``device``.

    ``method="sobol"`` draws a scrambled Sobol sequence whose scrambling seed comes from ``generator``
    (so it is reproducible and different across calls); Sobol points are made on the CPU, then moved.
    """
    check_count(n)
    if method == "pseudo":
        gen_device = generator.device if generator is not None else torch.device(device)
        x = torch.rand(n, dim, generator=generator, dtype=torch.float64, device=gen_device)
        return x.to(device)
    if method == "sobol":
        if dim > torch.quasirandom.SobolEngine.MAXDIM:
            raise ValueError(f"Sobol sampling supports dim <= {torch.quasirandom.SobolEngine.MAXDIM}, got {dim}; "
                             "use method='pseudo'")
        gen_device = generator.device if generator is not None else torch.device("cpu")
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=gen_device))
        engine = torch.quasirandom.SobolEngine(dim, scramble=True, seed=seed)
        return engine.draw(n, dtype=torch.float64).to(device)
    raise ValueError(f"unknown sampling method {method!r}; choose one of {METHODS}")


def normal(n: int, dim: int, *, generator: torch.Generator | None, device: torch.device | str = "cpu",
           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Standard normal samples (n, dim) drawn from ``generator`` on its device, then moved to ``device``."""
    gen_device = generator.device if generator is not None else torch.device(device)
    return torch.randn(n, dim, generator=generator, dtype=dtype, device=gen_device).to(device)
