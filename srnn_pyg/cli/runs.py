"""Run folders of the ``srnn-pyg`` command: a new numbered folder for every
run, no run overwritten by accident, the resolved ``config.yaml`` beside the
checkpoints, and ``--resume RUN`` checked against that config."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from .options import CLIError

__all__ = ["CONFIG_FILE", "RUN_FILES", "new_run_dir", "prepare_out_dir", "read_config", "contradictions",
           "flatten", "is_main_rank", "describe", "resume_dir"]

CONFIG_FILE = "config.yaml"
#: the files and folders a run writes; --overwrite removes these and nothing else
RUN_FILES = (CONFIG_FILE, "metrics.jsonl", "metrics.csv", "last.pt", "best.pt", "result.json",
             "compare.md", "compare.csv", "forecast.pt", "forecast.png")


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def new_run_dir(stem: str, root: Path = Path("runs")) -> Path:
    """``runs/STEM-001``, ``runs/STEM-002``, ...: the first number not yet
    taken, created at once (two runs started together get two folders)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise CLIError("--out_dir: a distributed run needs an explicit run folder (got none)")
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100000):
        path = root / f"{stem}-{n:03d}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise CLIError(f"--out_dir: no free run number under '{root}' for {stem!r}")  # pragma: no cover


def prepare_out_dir(out_dir: Path, overwrite: bool, resumable: bool) -> None:
    """An existing non-empty ``out_dir`` is an error unless ``overwrite``
    (then the run's own files are removed, nothing else)."""
    if not is_main_rank() or not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise CLIError(f"--out_dir: expected a folder (got the file '{out_dir}')")
    held = sorted(p.name for p in out_dir.iterdir())
    if not held:
        return
    if not overwrite:
        hint = f"--resume {out_dir} to continue it, " if resumable else ""
        raise CLIError(f"--out_dir: '{out_dir}' already holds {', '.join(held[:4])}"
                       f"{', ...' if len(held) > 4 else ''}; pass {hint}--overwrite to replace it, or another "
                       f"folder")
    import shutil
    for name in RUN_FILES:
        (out_dir / name).unlink(missing_ok=True)
    board = out_dir / "tensorboard"
    if board.is_dir():
        shutil.rmtree(board)


def read_config(run: Path) -> Dict[str, Any]:
    """The saved ``config.yaml`` of run folder ``run``, as a dict."""
    import yaml
    path = run / CONFIG_FILE
    if not run.is_dir():
        raise CLIError(f"--resume: expected a run folder (got '{run}', which does not exist)")
    if not path.is_file():
        raise CLIError(f"--resume: '{run}' has no {CONFIG_FILE} (expected a folder written by srnn-pyg train)")
    with open(path) as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict) or "model" not in cfg or "data" not in cfg:
        raise CLIError(f"--resume: '{path}' is not a train config (expected 'model' and 'data' sections)")
    return cfg


def flatten(cfg: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}}`` as ``{"a.b": 1}``."""
    out: Dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key in ("model", "data", "trainer") and not prefix:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def contradictions(saved: Dict[str, Any], now: Dict[str, Any], free: List[str]) -> List[str]:
    """The keys whose values in ``now`` differ from ``saved`` (both flat),
    except those in ``free``."""
    keys: List[str] = []
    for key in sorted(set(saved) | set(now)):
        if key in free or key in ("config", "__path__"):
            continue
        if _norm(saved.get(key)) != _norm(now.get(key)):
            keys.append(key)
    return keys


def _norm(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_norm(v) for v in value]
    if isinstance(value, list):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def describe(keys: List[str], saved: Dict[str, Any], now: Dict[str, Any], limit: int = 4) -> str:
    """``trainer.lr (saved 0.001, now 0.01), ...`` for a message."""
    parts = [f"--{k} (saved {saved.get(k)!r}, now {now.get(k)!r})" for k in keys[:limit]]
    return ", ".join(parts) + (f" and {len(keys) - limit} more" if len(keys) > limit else "")



def resume_dir(value: str, out_dir: Optional[str]) -> Path:
    """The run folder of ``--resume [RUN]`` (a bare ``--resume`` is ``--out_dir``)."""
    if value:
        if out_dir is not None and Path(out_dir) != Path(value):
            raise CLIError(f"--resume {value}: the run folder is RUN itself; drop --out_dir (got {out_dir})")
        return Path(value)
    if out_dir is None:
        raise CLIError("--resume: expected a run folder, --resume RUN (got none)")
    return Path(out_dir)

