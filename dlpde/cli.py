"""Command line: ``dlpde cases``, ``dlpde solve CASE --solver S [...]``, ``dlpde validate CASE --solver S [...]``
(``dlpde.validate``), ``dlpde info FILE``.

Bad input gets one line on stderr saying what would work and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

EXIT_USAGE = 2
STOPPED_EXIT = {"interrupted": 130, "terminated": 143}  # 128 + SIGINT, 128 + SIGTERM, as shells report


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} --help`)")


def _positive_int(name):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if v < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1, got {v}")
        return v
    return parse


def _nonneg_int(name):
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {text!r}") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"{name} must be 0 or more, got {v}")
        return v
    return parse


def _positive_float(name, *, zero: bool = False):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (math.isfinite(v) and (v > 0 or (zero and v == 0))):
            kind = "a finite number ≥ 0" if zero else "a positive finite number"
            raise argparse.ArgumentTypeError(f"{name} must be {kind}, got {text}")
        return v
    return parse


def _nonneg_float(name):
    return _positive_float(name, zero=True)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dlpde", description="Neural-network PDE solvers checked against classical references.")
    p.add_argument("-v", "--verbose", action="store_true", help="log every log-interval to stderr")
    # -v may also come after the command (dlpde solve poisson-2d -v); SUPPRESS keeps the main parser's value
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="log every log-interval to stderr")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("cases", help="list the named cases and the solvers that apply", parents=[common])
    s = sub.add_parser("solve", help="train a solver on a named case and save the result to HDF5",
                       parents=[common], description="Train a solver on a named case and save the result to HDF5. "
                       "Options left out take the case's defaults for the solver (`dlpde cases`; "
                       "dlpde/problems/registry.py), then dlpde.settings.SolveSettings's.")
    s.add_argument("case", help="a named case (`dlpde cases`)")
    s.add_argument("--solver", default="pinn", help="pinn | dgm | ritz | deep-bsde | mfg (default: pinn)")
    s.add_argument("--dim", type=_positive_int("--dim"), help="dimension, for cases of any dimension")
    s.add_argument("--steps", type=_positive_int("--steps"), help="steps of the first optimizer (Adam or ENGD)")
    s.add_argument("--batch", type=_positive_int("--batch"), help="interior collocation points per step")
    s.add_argument("--boundary-batch", type=_positive_int("--boundary-batch"),
                   help="points per boundary/initial condition per step")
    s.add_argument("--boundary-weight", type=_nonneg_float("--boundary-weight"),
                   help="weight β of the condition terms in the loss")
    s.add_argument("--width", type=_positive_int("--width"), help="neurons per hidden layer")
    s.add_argument("--depth", type=_positive_int("--depth"), help="hidden layers (residual blocks for ritz)")
    s.add_argument("--activation", help="tanh | sin | softplus | relu3 | logcosh")
    s.add_argument("--lr", type=_positive_float("--lr"), help="Adam's initial learning rate (cosine decay)")
    s.add_argument("--lbfgs-steps", type=_nonneg_int("--lbfgs-steps"),
                   help="L-BFGS iterations after the first phase, on one fixed batch (0: none)")
    s.add_argument("--optimizer", choices=["adam", "engd"],
                   help="first phase: adam (default) or engd, Gauss–Newton / energy natural gradient with a line "
                        "search (pinn, dgm, ritz; small networks, float64); engd takes the case's ENGD settings")
    s.add_argument("--threads", type=_positive_int("--threads"),
                   help="CPU threads for torch (default: the free cores, i.e. the cores less the 1-minute load "
                        "average, at least 1)")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction,
                   help="progress: a bar on a terminal, a line every 10 s otherwise (default: on)")
    s.add_argument("--compile", choices=["auto", "on", "off"], type=str.lower,
                   help="torch.compile the PINN/DGM loss: auto (default: where the estimated saving exceeds the "
                        "compilation), on or off")
    s.add_argument("--derivative", help="auto | forward | autograd | hutchinson | sdgd (default: auto)")
    s.add_argument("--seed", type=_nonneg_int("--seed"), help="random seed (default: 0)")
    s.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda where available, else cpu")
    s.add_argument("--dtype", choices=["float32", "float64"], help="default: float32 or the case's")
    s.add_argument("--out", help="output HDF5 file (default: CASE-SOLVER-dDIM.h5)")
    s.add_argument("--plot", help="also write a PNG figure (solution, reference, difference, error history)")
    s.add_argument("--log-every", type=_positive_int("--log-every"), help="steps between history rows")
    s.add_argument("--checkpoint-every", type=_nonneg_int("--checkpoint-every"),
                   help="write a checkpoint every K steps (default 0: only on Ctrl-C)")
    s.add_argument("--checkpoint", help="checkpoint file (default: the --out name with .ckpt.h5)")
    s.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint at its step (same settings)")
    s.add_argument("--max-rollbacks", type=_nonneg_int("--max-rollbacks"),
                   help="divergence guard: rollbacks with the learning rate halved before giving up (default 3)")
    s.add_argument("--mesh", metavar="FILE", help="mesh file meshio reads (.msh, .vtu, ...) for the poisson-mesh case")
    v = sub.add_parser("validate", help="train, compare with the reference (exact or finite elements) and write "
                       "HDF5 (+ /validation), PNG and XDMF")
    for action in s._actions:  # the options of solve, except the output names
        if action.dest not in ("help", "out", "plot", "verbose"):
            v._add_action(action)
    v.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="log every log-interval to stderr")
    v.add_argument("--out", help="output HDF5 file (default: CASE-SOLVER-dDIM-validation.h5); the figure is "
                   "<stem>.png, the finite element fields <stem>-fem.xdmf")
    v.add_argument("--plot", help="the PNG figure (default: <stem>.png)")
    i = sub.add_parser("info", help="print the attributes of a saved solution file", parents=[common])
    i.add_argument("file", help="an HDF5 file written by dlpde")
    return p


def cmd_cases(args) -> int:
    from dlpde.problems import CASES
    width = max(len(n) for n in CASES)
    print(f"{'case':<{width}}  {'dim':>5}  solvers              description")
    for c in CASES.values():
        dim = "fixed" if c.default_dim is None else str(c.default_dim)
        print(f"{c.name:<{width}}  {dim:>5}  {','.join(c.solvers):<20} {c.description}")
    return 0


def _check_paths(out: Path, plot: str | None, checkpoint: Path, resume: str | None, sidecar: bool) -> None:
    """Every path is checked before training, so that bad ones cost nothing and no good file is touched:
    the output may only replace an earlier dlpde result, its XDMF file (``sidecar``) an earlier one of dlpde's,
    the plot an earlier PNG, the checkpoint a checkpoint; no two of them may be the same file."""
    from dlpde.io.hdf5 import check_output
    from dlpde.io.xdmf import xdmf_path
    from dlpde.training import checkpoint as ckpt
    check_output(out, sidecar=sidecar)
    if plot:
        from dlpde.io.atomic import check_writable
        p = check_writable(plot, overwrite=True)
        if p.exists() and p.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            raise ValueError(f"{plot!r} exists and is not a PNG image; choose another --plot file or remove it")
    ckpt.check_target(checkpoint)
    if resume is not None:
        ckpt.read_attrs(resume)
    others = [Path(p).resolve() for p in (out, plot) if p] + ([xdmf_path(out).resolve()] if sidecar else [])
    written = others + [Path(checkpoint).resolve()]
    if len(set(written)) < len(written) or (resume and Path(resume).resolve() in others):
        raise ValueError("--out, --plot, --checkpoint and the XDMF file written beside --out (its name with .xdmf) "
                         "must name different files, and --resume may only name the checkpoint file")


def cmd_solve(args) -> int:
    import dlpde
    from dlpde.settings import settings_from_args
    from dlpde import distributed
    from dlpde.api import check_dim
    from dlpde.problems import get_case

    check_dim(args.dim)
    case = get_case(args.case)
    if args.mesh is not None:
        from dlpde.validate import make_problem
        problem = make_problem(args.case, dim=args.dim, mesh=args.mesh)
    else:
        problem = case.make(args.dim)
    out = Path(args.out or f"{args.case}-{args.solver}-d{problem.dim}.h5")
    checkpoint = Path(args.checkpoint) if args.checkpoint else out.with_name(
        (out.name[:-3] if out.name.endswith(".h5") else out.name) + ".ckpt.h5")
    from dlpde.io.hdf5 import writes_grid
    _check_paths(out, args.plot, checkpoint, args.resume, sidecar=writes_grid(problem))
    settings = settings_from_args(args)
    sol = dlpde.solve(problem, args.solver, checkpoint_path=str(checkpoint), **settings)
    if not distributed.is_main():  # under torchrun only rank 0 writes and prints
        return 0 if sol.status == "ok" else STOPPED_EXIT.get(sol.status, 1)
    if sol.status in STOPPED_EXIT:
        print(f"dlpde: {sol.message}", file=sys.stderr)
        return STOPPED_EXIT[sol.status]
    sol.save(out)
    if args.plot:
        from dlpde.plotting import plot_solution
        plot_solution(sol, args.plot)
    # the solution's summary (its error measure, trained coefficients, status, converged=no) after the case name
    print(f"{args.case} {sol.summary().split(' ', 1)[1]} out={out}" + (f" plot={args.plot}" if args.plot else ""))
    if sol.status != "ok":
        print(f"dlpde: training failed: {sol.message}; the history so far is in {out}", file=sys.stderr)
        return 1
    return 0


def cmd_info(args) -> int:
    from dlpde.io.hdf5 import read_attrs
    for k, v in read_attrs(args.file).items():
        print(f"{k}: {v}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = None
    try:
        args = parser.parse_args(argv)  # --help and bad input answer here, before torch is imported
        from dlpde import distributed
        launch = distributed.launch_from_env()
        quiet = launch is not None and launch.rank > 0  # under torchrun, only rank 0 speaks
        logging.basicConfig(level=logging.ERROR if quiet else logging.INFO if args.verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")
        if args.command is None:
            raise UsageError("dlpde: choose a command: cases, solve, validate, info (see `dlpde --help`)")
        if args.command == "validate":
            from dlpde.validate import cmd_validate
            return cmd_validate(args)
        return {"cases": cmd_cases, "solve": cmd_solve, "info": cmd_info}[args.command](args)
    except UsageError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError) as e:
        print(f"dlpde: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader left early (`dlpde cases | head -1`)
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        # a listing has given the reader what it wanted; a solve's status is unknown to it: 141, as for SIGPIPE
        return 0 if getattr(args, "command", None) in ("cases", "info") else 141
    except OSError as e:  # a path the checks could not foresee (a disk that filled up, permissions changed)
        print(f"dlpde: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("dlpde: out of memory; lower --batch, --width or --dim", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as e:  # torch's allocators report exhausted memory as RuntimeError
        if "out of memory" not in str(e) and "can't allocate memory" not in str(e):
            raise
        print(f"dlpde: out of memory ({str(e).splitlines()[0][:200]}); lower --batch, --width or --dim",
              file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dlpde: interrupted", file=sys.stderr)
        return 130
    finally:
        loaded = sys.modules.get("dlpde.distributed")  # not imported when parsing stopped the command
        if loaded is not None:
            loaded.teardown()
