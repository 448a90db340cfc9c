r"""The run folder of :func:`~srnn_pyg.engine.fit` (``out_dir``): whether a
new run may start in it, when the run it replaces goes, a ``best.pt`` that
holds the best epoch its run records, and epoch records that a checkpoint and
a JSON file can hold.

Order of the writes: at an improving epoch ``best.pt`` is written before
``last.pt``, so a process that dies between the two leaves a ``best.pt`` at
least as new as the best epoch ``last.pt`` records; the resume trains that
epoch again and rewrites it. A resume checks ``best.pt`` against the
checkpoint's ``best_epoch`` (:func:`reconcile_best`) and never lets
``restore_best`` load another epoch's weights.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from .checkpoints import BEST, LAST, METRICS_FILE, RESULT_FILE, load_checkpoint, resolve_checkpoint, resumes_in, \
    write_checked
from .files import first_unplain, to_jsonable
from .optim import monitor_direction

__all__ = ["RUN_FILES", "files_to_replace", "remove_run", "reconcile_best", "plain_record", "check_init_from",
           "config_record", "resume_path", "selection_changed"]

#: the files of a run that fit writes into ``out_dir``
RUN_FILES = (LAST, BEST, METRICS_FILE, RESULT_FILE)


def files_to_replace(out: Optional[Path], held: List[str], resume: Any, overwrite: bool) -> List[str]:
    """The files of the run in ``out`` (``held``: those present) that a new
    run replaces, removed only when it writes its first epoch; empty when
    the run continues (``resume``) or the folder holds none.

    Raises:
        ValueError: if ``out`` holds a run and neither ``resume`` continues
            it nor ``overwrite`` allows replacing it; ``resume=True`` on a
            run without ``last.pt`` (a finished run whose ``last.pt`` was
            removed, say) is such a case too.
    """
    if not held:
        return []
    fresh = resume is True and LAST not in held          # resume=True with no last.pt: a new run
    if resumes_in(resume, out) and not fresh:
        return []
    if not overwrite and fresh:
        raise ValueError(f"fit: 'resume=True' continues out_dir/{LAST}, but out_dir '{out}' holds a run without "
                         f"one ({', '.join(held)}): pass overwrite=True to replace that run, resume=PATH to "
                         f"continue from another checkpoint, or another out_dir")
    if not overwrite:
        raise ValueError(f"fit: out_dir '{out}' already holds a run ({', '.join(held)}): pass resume=True "
                         f"to continue it, overwrite=True to replace it, or another out_dir")
    return list(held)


def remove_run(out: Path, names: List[str]) -> None:
    """Delete the replaced run's files ``names`` from ``out``."""
    for name in names:
        (out / name).unlink(missing_ok=True)


def _epoch_in(path: Path) -> Optional[int]:
    """The epoch of the checkpoint at ``path``; None if there is none or it
    cannot be read (truncated, corrupted)."""
    if not path.is_file():
        return None
    try:
        return int(load_checkpoint(path)["epoch"])
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _holding(best_epoch: int, ckpt: Mapping[str, Any], source: Path, out: Path) -> Optional[Dict[str, Any]]:
    """A checkpoint of epoch ``best_epoch`` of the resumed run: ``ckpt``
    itself when it is that epoch, else the ``best.pt`` beside ``source``
    (a resume from another folder)."""
    if int(ckpt["epoch"]) == best_epoch:
        return {k: v for k, v in ckpt.items() if k != "path"}
    beside = source.parent / BEST
    if beside.resolve() != (out / BEST).resolve() and _epoch_in(beside) == best_epoch:
        return {k: v for k, v in load_checkpoint(beside).items() if k != "path"}
    return None


def reconcile_best(out: Path, ckpt: Mapping[str, Any], source: Path, restore_best: bool,
                   own: bool = True) -> Tuple[str, Any]:
    """Check ``out/best.pt`` against the best epoch that the resumed
    checkpoint ``ckpt`` (read from ``source``) records, and repair it where a
    file holds that epoch (``own``: ``out`` is the resumed run's folder; else
    its ``best.pt``, of a run being replaced, does not count). Returns ``("ok", None)``; ``("ahead", epoch)``
    when ``best.pt`` holds a later epoch than the checkpoint (the process
    died between ``best.pt`` and ``last.pt``: the resume trains that epoch
    again, which rewrites it); ``("forget", message)`` when no file holds the
    recorded best epoch (the run forgets it, and ``best.pt`` is rewritten at
    its next best epoch); ``("error", message)`` for that case with
    ``restore_best``, which could only load other weights."""
    best_epoch, epoch = ckpt.get("best_epoch"), int(ckpt["epoch"])
    if best_epoch is None:
        return "ok", None
    held = _epoch_in(out / BEST) if own else None
    if held == best_epoch:
        return "ok", None
    if held is not None and held > epoch:
        return "ahead", held
    found = _holding(int(best_epoch), ckpt, source, out)
    what = f"holds epoch {held}" if held is not None else "is missing or unreadable"
    if found is not None:
        write_checked(found, out / BEST)
        if own:
            warnings.warn(f"fit: '{out / BEST}' {what}, not epoch {best_epoch}, the best that '{source}' records; "
                          f"rewritten with that epoch's weights")
        return "ok", None
    if restore_best:
        return "error", (f"fit: 'restore_best' would load the best epoch at the end, but '{out / BEST}' {what} and "
                         f"no file holds epoch {best_epoch}, the best that '{source}' records (expected a best.pt "
                         f"of epoch {best_epoch}); resume with restore_best=False, or start a new run")
    return "forget", f"'{out / BEST}' {what}, not epoch {best_epoch}, the best that '{source}' records"


def plain_record(record: Dict[str, Any]) -> None:
    """Make the values of an epoch record (after the callbacks, which may
    add to it) plain data in place: NumPy values and tensors become numbers and
    lists, so the next ``last.pt`` reads back with ``weights_only=True``.

    Raises:
        TypeError: naming the key, if a value is of another kind.
    """
    for key in list(record):
        value = record[key]
        if first_unplain(value) is None:
            continue
        value = to_jsonable(value)
        found = first_unplain(value, repr(key))
        if found is not None:
            where, part = found
            raise TypeError(f"fit: a callback put {where} = {part!r:.80} (a {type(part).__name__}) in the epoch "
                            f"record; a record holds plain data (expected None, bool, int, float, str, or lists "
                            f"and dicts of them, or NumPy values and tensors, which become those)")
        record[key] = value


def check_init_from(config: Any) -> None:
    """``init_from`` outside ``out_dir`` (the run would overwrite the
    checkpoint it starts from) and, for a run that will use it, readable,
    before anything is written."""
    c = config
    if c.init_from is None:
        return
    if c.out_dir is not None:
        src, out = Path(c.init_from).resolve(), Path(c.out_dir).resolve()
        if src == out or out in src.parents:
            raise ValueError(f"fit: 'init_from' ({str(c.init_from)!r}) is inside out_dir ({str(c.out_dir)!r}): "
                             f"this run would overwrite the checkpoint it starts from; write it to another "
                             f"folder")
    resuming = c.resume not in (None, False) and not (c.resume is True and not (Path(c.out_dir) / LAST).is_file())
    if not resuming:
        try:
            resolve_checkpoint(c.init_from)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"fit: 'init_from': {e}") from None


def config_record(c: Any, schedule: Any, monitor: str, mode: str, world: int, validated: bool) -> Dict[str, Any]:
    """The options a checkpoint records (``config``): what a resume compares."""
    return {
        "epochs": c.epochs, "objective": c.objective, "loss": c.loss, "horizon": c.horizon, "lr": c.lr,
        "weight_decay": c.weight_decay, "grad_clip": c.grad_clip, "seed": c.seed,
        "optimizer": c.optimizer if isinstance(c.optimizer, str) else "custom",
        "scheduler": c.scheduler if c.scheduler is None or isinstance(c.scheduler, str) else "custom",
        "noise": schedule.to_list() if schedule is not None else None,
        "early_stopping": c.early_stopping, "monitor": monitor, "monitor_mode": mode,
        "world_size": world, "tbptt": c.tbptt, "truncate_gradient": c.truncate_gradient,
        "noise_p": c.noise_p, "momentum": c.momentum, "node_type_loss": c.node_type_loss,
        "recipe": c.recipe, "init_from": None if c.init_from is None else str(c.init_from),
        "validate_start": validated}


def hand_history(callbacks, history: List[Dict[str, Any]]) -> None:
    """The run's history before its first epoch (a resumed run's records, or
    none for a new run) to every callback with an ``on_resume`` method."""
    for cb in callbacks:
        if callable(getattr(cb, "on_resume", None)):
            cb.on_resume(history)


def resume_path(resume: Any, out: Optional[Path], main: bool = True) -> Optional[Path]:
    """The checkpoint a run resumes from: ``out/last.pt`` for ``resume=True``
    (:obj:`None`, with a warning on the main process, when there is none),
    the checkpoint that ``resume`` names, or :obj:`None` for no resume."""
    if resume is True:
        if (out / LAST).is_file():
            return out / LAST
        if main:
            warnings.warn(f"fit: resume=True but there is no '{out / LAST}'; starting a new run")
        return None
    if resume not in (None, False):
        folder = Path(resume)
        if folder.is_dir():            # a run folder: its last epoch, where the run stopped (not its best)
            if not (folder / LAST).is_file():
                raise FileNotFoundError(f"fit: 'resume' names the run folder '{folder}', which has no '{LAST}' "
                                        f"to continue from (to start from its weights instead, pass "
                                        f"init_from='{folder}')")
            return folder / LAST
        return resolve_checkpoint(resume)
    return None


def selection_changed(saved: Mapping[str, Any], monitor: str, mode: str, own_loss: Optional[str],
                      loss: Optional[str]) -> Optional[Tuple[str, str]]:
    """On resume: the ``(monitor, mode)`` the checkpoint's config ``saved``
    selected on, when it is another quantity or direction than this run's
    ``monitor`` in ``mode`` (``val_loss``/``train_loss`` of another ``loss``
    are another quantity; ``own_loss``: the head's own, :obj:`None` for a
    Gaussian or logits head, which ignores ``loss``), else :obj:`None`."""
    if saved.get("monitor") is None:
        return None
    old = (saved.get("monitor"), saved.get("monitor_mode") or monitor_direction(saved.get("monitor") or ""))
    # a checkpoint without 'loss' predates the record: its val_loss was the head's own loss
    was, now = saved.get("loss") or own_loss, loss or own_loss
    other_loss = own_loss is not None and monitor in ("val_loss", "train_loss") and was != now and \
        ("loss" in saved or monitor == "val_loss")
    if other_loss:
        return f"{old[0]} of loss={was!r}", old[1]
    return old if old != (monitor, mode) else None
