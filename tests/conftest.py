import torch
from torch import nn

# One thread per test process: several tests start subprocesses (CLI, torchrun, examples), and on the 2-core CI
# machine BLAS threads fighting over the cores made the suite several times slower. The library itself never
# changes torch's thread count.
torch.set_num_threads(1)


def tiny(**kw):
    """Settings for training tests: a few steps, small batches, no progress bar."""
    base = dict(steps=30, batch=64, boundary_batch=32, width=16, depth=2, log_every=10, eval_every=10,
                eval_points=500, lbfgs_steps=0, progress=False)
    base.update(kw)
    return base


class ExactField(nn.Module):
    """A problem's exact solution as a network (n, input_dim) → (n, 1), for residual checks by autograd."""

    def __init__(self, problem):
        super().__init__()
        self.problem = problem

    def forward(self, x):
        return self.problem.exact(x)[:, None]
