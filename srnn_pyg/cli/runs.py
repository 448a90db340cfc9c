"""Run folders of the ``srnn-pyg`` command: a new numbered folder for every
run, no run overwritten by accident, the resolved ``config.yaml`` beside the
checkpoints, and ``--resume RUN`` checked against that config."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .options import CLIError

__all__ = ["CONFIG_FILE", "RUN_FILES", "new_run_dir", "prepare_out_dir", "read_config", "contradictions",
           "flatten", "is_main_rank", "describe", "resume_dir", "RunGuard", "check_nothing_set_aside",
           "check_writable"]

CONFIG_FILE = "config.yaml"
#: the files and folders a run writes; --overwrite removes these and nothing else
RUN_FILES = (CONFIG_FILE, "metrics.jsonl", "metrics.csv", "last.pt", "best.pt", "result.json",
             "compare.md", "compare.csv", "forecast.pt", "forecast.png")


def is_main_rank() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def check_writable(path: Path, flag: str) -> None:
    """A :class:`CLIError` naming ``flag`` when ``path`` (a file to write,
    its missing folders made on the way) cannot be written: a file where a
    folder is needed, or a folder that is not writable. Checked before any
    work, so that no command trains or computes and then fails to write."""
    path = Path(path)
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CLIError(f"{flag}: cannot write '{path}': '{folder}' is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CLIError(f"{flag}: cannot write '{path}': the folder '{folder}' is not writable")


def new_run_dir(stem: str, root: Path = Path("runs")) -> Path:
    """``runs/STEM-001``, ``runs/STEM-002``, ...: the first number not yet
    taken, created at once (two runs started together get two folders)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise CLIError("--out_dir: a distributed run needs an explicit run folder (got none)")
    check_writable(root / stem, "--out_dir (default runs/)")
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
    """An existing non-empty ``out_dir`` is an error unless ``overwrite``.
    Nothing is removed here: :class:`RunGuard` sets the old run aside once
    the command is about to write."""
    if not is_main_rank():
        return
    if out_dir.exists() and not out_dir.is_dir():
        raise CLIError(f"--out_dir: expected a folder (got the file '{out_dir}')")
    check_writable(out_dir / CONFIG_FILE, "--out_dir")
    if not out_dir.exists():
        return
    check_nothing_set_aside(out_dir)
    held = sorted(p.name for p in out_dir.iterdir())
    if held and not overwrite:
        hint = f"--resume {out_dir} to continue it, " if resumable else ""
        raise CLIError(f"--out_dir: '{out_dir}' already holds {', '.join(held[:4])}"
                       f"{', ...' if len(held) > 4 else ''}; pass {hint}--overwrite to replace it, or another "
                       f"folder")
    named = [n for n in held if n in RUN_FILES]
    if overwrite and named and not _is_a_run(out_dir):
        raise CLIError(f"--overwrite: '{out_dir}' holds {', '.join(named)} but is not a srnn-pyg run (no "
                       f"last.pt, best.pt, metrics.jsonl, result.json, compare.md, nor a config.yaml written by "
                       f"srnn-pyg), so those files are not replaced: move them, or write the run to another "
                       f"folder")


def _is_a_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run of this command (or ``fit``): its
    checkpoints, logs or table, or a ``config.yaml`` with a run's sections."""
    if any((folder / n).exists() for n in ("last.pt", "best.pt", "metrics.jsonl", "result.json", "compare.md")):
        return True
    import yaml
    try:
        with open(folder / CONFIG_FILE) as f:
            cfg = yaml.safe_load(f)
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return isinstance(cfg, dict) and ({"model", "data"} <= set(cfg) or {"models", "data"} <= set(cfg))


#: the hidden folder inside a run folder that holds the run ``--overwrite`` replaces until the new one starts
ASIDE = ".srnn-pyg-replaced"


def check_nothing_set_aside(folder: Path) -> None:
    """A run set aside by an ``--overwrite`` that was killed before its new
    run started is the user's: refuse to go on until they decide."""
    stale = sorted(p for p in folder.glob(ASIDE + "-*") if p.is_dir()) if folder.is_dir() else []
    if stale and is_main_rank():
        raise CLIError(f"'{folder}' holds '{stale[0].name}', the run an --overwrite set aside and never replaced "
                       f"(that command was killed before its first checkpoint): move its files back into "
                       f"'{folder}' to keep that run, or delete the folder to let it go")


def _written_by_a_run(name: str) -> bool:
    """A name the command or ``fit`` writes into a run folder (and their atomic-write temporaries)."""
    return name in RUN_FILES or name == "tensorboard" or \
        any(name.startswith(f".{n}.tmp-") for n in RUN_FILES)


class RunGuard:
    """Keeps a user's runs whole while a command writes into run folders.

    ``folders`` maps each folder the command writes to the file whose
    (re)writing means its new run has started (``last.pt``: the first
    checkpoint; ``compare.md``). On entering, ``overwrite`` moves the old
    run's files (:data:`RUN_FILES`, ``tensorboard/``) into a hidden folder
    inside it, and an existing ``config.yaml`` (a resumed run's) is read. On
    leaving, in success or failure, a folder whose new run started drops the
    old run; one whose new run never started gets back exactly what it held:
    the files the command wrote are removed, the old run's files and a
    resumed run's ``config.yaml`` are put back, and a folder the command made
    (``made``) is removed if empty. So an error before the first epoch (a bad
    model argument, a refused resume) loses nothing and leaves nothing. Only
    the main process acts."""

    def __init__(self, folders: Dict[Path, str], overwrite: bool = False, made: Sequence[Path] = ()):
        self.folders, self.overwrite, self.made = dict(folders), overwrite, {Path(p) for p in made}
        self.state: Dict[Path, Dict[str, Any]] = {}

    def __enter__(self) -> "RunGuard":
        if not is_main_rank():
            return self
        for folder, marker in self.folders.items():
            aside = None
            existed = folder.is_dir() and folder not in self.made
            held = [n for n in RUN_FILES + ("tensorboard",) if (folder / n).exists()] if existed else []
            if self.overwrite and held:
                aside = Path(tempfile.mkdtemp(prefix=ASIDE + "-", dir=folder))
                for name in held:
                    os.replace(folder / name, aside / name)
            config = folder / CONFIG_FILE
            self.state[folder] = dict(
                aside=aside, existed=existed, mark=_stamp(folder / marker),
                before={p.name for p in folder.iterdir()} if folder.is_dir() else set(),
                config=config.read_bytes() if config.is_file() else None)
        return self

    def __exit__(self, *exc) -> bool:
        # the deepest folders first: a comparison's model folders before the comparison's own
        for folder in sorted(self.folders, key=lambda f: len(f.resolve().parts), reverse=True):
            marker, st = self.folders[folder], self.state.get(folder)
            if st is None:
                continue
            started = (folder / marker).exists() and _stamp(folder / marker) != st["mark"]
            if started:
                if st["aside"] is not None:
                    shutil.rmtree(st["aside"], ignore_errors=True)
                continue
            if folder.is_dir():
                for path in folder.iterdir():                 # what this command wrote, nothing else
                    if path.name not in st["before"] and _written_by_a_run(path.name):
                        shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            if st["config"] is not None:                       # a resumed run's own config
                (folder / CONFIG_FILE).write_bytes(st["config"])
            if st["aside"] is not None:                        # the run --overwrite would have replaced
                for path in st["aside"].iterdir():
                    os.replace(path, folder / path.name)
                st["aside"].rmdir()
            if not st["existed"] and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        return False


def _stamp(path: Path) -> Optional[int]:
    """``path``'s modification time in ns, or None if it does not exist."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def read_config(run: Path) -> Dict[str, Any]:
    """The saved ``config.yaml`` of run folder ``run``, as a dict."""
    import yaml
    path = run / CONFIG_FILE
    if run.is_file():
        raise CLIError(f"--resume: expected a run folder (got the file '{run}'); pass the folder that holds "
                       f"it, --resume {run.parent}")
    if not run.is_dir():
        raise CLIError(f"--resume: expected a run folder (got '{run}', which does not exist)")
    if not path.is_file():
        raise CLIError(f"--resume: '{run}' has no {CONFIG_FILE} (expected a folder written by srnn-pyg train)")
    with open(path) as f:
        cfg = yaml.safe_load(f)
    if isinstance(cfg, dict) and "models" in cfg and "model" not in cfg:
        raise CLIError(f"--resume: '{run}' is a comparison (srnn-pyg compare), which does not resume; resume one "
                       f"of its models, --resume {run / 'MODEL'}")
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

