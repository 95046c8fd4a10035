"""Files: HDF5 solutions, XDMF sidecars for ParaView, atomic writes."""
from dlpde.io.atomic import atomic_path
from dlpde.io.hdf5 import save_solution

__all__ = ["atomic_path", "save_solution"]
