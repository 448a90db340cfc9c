"""Tables of the ``srnn-pyg`` command: rows of ``{column: value}`` as Markdown
or CSV (columns in order of first appearance)."""
from __future__ import annotations

import csv
import io
import math
from typing import Any, Dict, List

__all__ = ["fmt", "markdown_table", "csv_table"]


def fmt(v: Any) -> str:
    """One cell: 4 significant digits for floats, ``nan``, blanks for None."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)


def _columns(rows: List[Dict[str, Any]]) -> List[str]:
    cols: List[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    return cols


def markdown_table(rows: List[Dict[str, Any]]) -> str:
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows: List[Dict[str, Any]]) -> str:
    cols = _columns(rows)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") for c in cols})
    return buf.getvalue()
