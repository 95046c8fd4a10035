import torch

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
