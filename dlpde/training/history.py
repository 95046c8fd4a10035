"""Training history: one row every ``log_every`` steps (step, phase, loss terms, seconds, lr, errors)."""
from __future__ import annotations

import math

import numpy as np


class History:
    """Rows of floats keyed by column name; ``columns()`` gives arrays for saving (missing entries are NaN)."""

    def __init__(self, rows: list[dict] | None = None):
        self.rows: list[dict] = list(rows or [])

    def append(self, **row) -> None:
        self.rows.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def last(self, key: str, default=math.nan):
        for row in reversed(self.rows):
            if key in row:
                return row[key]
        return default

    def columns(self) -> dict[str, np.ndarray]:
        keys: list[str] = []
        for row in self.rows:
            keys += [k for k in row if k not in keys]
        out = {}
        for k in keys:
            values = [row.get(k, math.nan) for row in self.rows]
            if all(isinstance(v, str) for v in values if v is not math.nan):
                out[k] = np.array([str(v) for v in values], dtype=object)
            else:
                out[k] = np.array(values, dtype=np.float64)
        return out

    @classmethod
    def from_columns(cls, cols: dict[str, np.ndarray]) -> "History":
        n = max((len(v) for v in cols.values()), default=0)
        rows = []
        for i in range(n):
            row = {}
            for k, v in cols.items():
                x = v[i]
                if isinstance(x, bytes):
                    x = x.decode()
                if isinstance(x, str) or not (isinstance(x, float) and math.isnan(x)):
                    row[k] = x.item() if hasattr(x, "item") else x
            rows.append(row)
        return cls(rows)
