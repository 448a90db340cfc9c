"""``srnn-pyg train`` and ``srnn-pyg compare``: typed options
(:mod:`~srnn_pyg.cli.typed`), a run folder that is never overwritten by
accident (:mod:`~srnn_pyg.cli.runs`), the resolved ``config.yaml``, resume
from a run folder alone, threads, loggers and one line per epoch with the
dataset's protocol metrics."""
from __future__ import annotations

import dataclasses
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import resources as R
from .options import (CLIError, Prescan, default_threads, key_values, light_train_parser, noise_option, prescan,
                      version)
from .runs import (CONFIG_FILE, RunGuard, check_nothing_set_aside, check_writable, contradictions, describe, flatten,
                   is_main_rank, new_run_dir, prepare_out_dir, read_config, resume_dir)
from .tables import csv_table, fmt, markdown_table
from .typed import RUN_KEYS, build_typed_parser, check_model_args, explicit, parse_typed, split_print_config

__all__ = ["cmd_train", "cmd_compare", "EpochReporter", "RESUME_FREE"]

#: keys a resumed run may change without --override (besides the run's own keys)
RESUME_FREE = ("trainer.epochs", "trainer.device")


# ================================================================ helpers
def _flag(argv: Sequence[str], key: str) -> Optional[str]:
    """The last value of ``key`` in a prescanned argv."""
    value = None
    for i, token in enumerate(argv):
        if token == key and i + 1 < len(argv):
            value = argv[i + 1]
        elif token.startswith(key + "="):
            value = token.split("=", 1)[1]
    return value


def _name_from_configs(paths: Sequence[str], group: str) -> Optional[str]:
    import yaml
    name = None
    for path in paths:
        try:
            with open(path) as f:
                cfg = yaml.safe_load(f) or {}
        except OSError as e:
            raise CLIError(f"--config: cannot read '{path}' ({e.strerror})") from None
        section = cfg.get(group) if isinstance(cfg, dict) else None
        if isinstance(section, dict) and section.get("name"):
            name = str(section["name"])
    return name


def _set_threads(n: Optional[int]) -> int:
    import torch
    if n is not None and n < 1:
        raise CLIError(f"--threads: expected a positive number of threads (got {n})")
    n = n or default_threads()
    torch.set_num_threads(n)
    return n


def _trainer_kwargs(cfg, model=None) -> Dict[str, Any]:
    """TrainConfig keywords of the ``--trainer.*`` group; ``objective: auto``
    resolved for ``model`` (teacher forcing until a model is known)."""
    from ..engine.config import PAPER_RECIPE, TrainConfig
    kw = cfg.trainer.as_dict()
    kw["noise"] = noise_option(kw.get("noise"))
    # Every option has a value here: as for --model.* and --data.*, a field at its default counts as not
    # given, so that --trainer.recipe paper fills it (TrainConfig leaves every field it is given alone).
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for name in PAPER_RECIPE:
        if name in kw and kw[name] == defaults[name]:
            del kw[name]
    if kw.get("objective") == "auto":
        kw["objective"] = R.objective_for("auto", model) if model is not None else "teacher_forcing"
    return kw


def _check_trainer(cfg) -> None:
    """Build a TrainConfig once before any data is opened: a bad value is a
    one-line error naming ``--trainer.KEY`` (``--threads`` is checked too)."""
    from ..engine import TrainConfig
    if cfg.threads is not None and cfg.threads < 1:
        raise CLIError(f"--threads: expected a positive number of threads (got {cfg.threads})")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise CLIError(f"--batch_size: expected a positive number of windows, or null for the dataset's "
                       f"default (got {cfg.batch_size})")
    if cfg.num_workers < 0:
        raise CLIError(f"--num_workers: expected 0 (load in this process) or more worker processes "
                       f"(got {cfg.num_workers})")
    if cfg.protocol_every < 0:
        raise CLIError(f"--protocol_every: expected 0 (never) or a positive number of epochs "
                       f"(got {cfg.protocol_every})")
    if cfg.hidden is not None and cfg.hidden < 1:
        raise CLIError(f"--hidden: expected a positive size, or null for each model's own (got {cfg.hidden})")
    if cfg.protocol_every != 1:
        _check_protocol_monitor(cfg, False)
    R.check_device(cfg.trainer.device, "--trainer.device")
    try:
        TrainConfig(**_trainer_kwargs(cfg))
    except ValueError as e:
        m = re.match(r"TrainConfig: '(\w+)' (.*)", str(e))
        raise CLIError(f"--trainer.{m.group(1)}: {m.group(2)}" if m else str(e)) from None


def _check_init_from(init_from, out_dir: Optional[Path]) -> None:
    """``--trainer.init_from`` names a readable checkpoint outside the run
    folder (which ``--overwrite`` would clear and the run would overwrite)."""
    if init_from is None:
        return
    from ..engine import resolve_checkpoint
    try:
        path = resolve_checkpoint(init_from)
    except FileNotFoundError as e:
        raise CLIError(f"--trainer.init_from: {e}") from None
    if out_dir is not None:
        out = Path(out_dir).resolve()
        if out == path.resolve().parent or out in path.resolve().parents:
            raise CLIError(f"--trainer.init_from: '{path}' is in the run folder '{out_dir}', which this run "
                           f"would clear or overwrite; fine-tune into another folder (--out_dir)")


def _dump(parser, cfg, keep_out_dir: bool = False) -> str:
    import warnings

    import yaml
    with warnings.catch_warnings():  # skip_none: deprecated by jsonargparse 4.49, still the way to keep nulls
        warnings.simplefilter("ignore")
        text = parser.dump(cfg, skip_check=True, skip_none=False)
    data = yaml.safe_load(text)
    for key in ("config", "__path__") + (() if keep_out_dir else ("out_dir",)):  # a run's file: where it lies
        data.pop(key, None)
    return yaml.safe_dump(data, sort_keys=False)


def _open_data(parser, cfg, splits: List[Optional[str]]):
    data = cfg.data.as_dict()
    dcfg = R.typed_data_config(data, explicit(parser, cfg, "data"))
    try:
        sets = R.open_splits(data["name"], dcfg, splits)
    except ValueError as e:                 # "Springs: 'num_nodes' must be ..." names --data.num_nodes
        raise R.option_error(e, {k: f"--data.{k}" for k in data if k != "name"}) from None
    R.keep_reuse(dcfg, sets["train"])
    return dcfg, sets


def _loggers(kind: Optional[str], out_dir: Path) -> list:
    if kind is None or not is_main_rank():
        return []
    from ..engine.loggers import CSVLogger, TensorBoardLogger
    return [CSVLogger(out_dir)] if kind == "csv" else [TensorBoardLogger(out_dir / "tensorboard")]


def protocol_score(val_set):
    """``val_set.score`` as a ``TrainConfig.val_score``: a key that one of the
    trainer's own metrics also uses (``accuracy``, ``mse``, ...) becomes
    ``protocol_KEY``, so neither hides the other."""
    from ..engine.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
    taken = set(REGRESSION_METRICS + CLASSIFICATION_METRICS)

    def score(collected):
        return {f"protocol_{k}" if k in taken else k: v for k, v in val_set.score(collected).items()}
    return score


class EpochReporter:
    """A ``TrainConfig`` callback: every ``every`` epochs, scores the
    validation split with the dataset's protocol (``dataset.score``), adds
    the scores to the epoch's record as ``val_KEY`` (so later callbacks,
    ``metrics.csv``, ``result.json`` and the trainer's epoch line have them)
    and prints one line per epoch when the trainer's own line is off
    (``--no-progress``)."""

    def __init__(self, model, val_set, val_loader, epochs: int, every: int, line: bool):
        self.model, self.val_set, self.val_loader = model, val_set, val_loader
        self.epochs, self.every, self.line = epochs, every, line

    def _scores(self, epoch: int) -> Dict[str, float]:
        if self.val_set is None or not self.every or epoch % self.every or len(self.val_set) == 0:
            return {}
        from ..engine import collect
        from ..engine.rng import kept_rng
        param = next(iter(self.model.parameters()), None)
        device = param.device if param is not None else None
        was_training = self.model.training
        try:
            with kept_rng():                        # scoring never changes the training that follows
                collected = collect(self.model, self.val_loader, device=device)
        finally:
            self.model.train(was_training)
        return {f"val_{k}": v for k, v in protocol_score(self.val_set)(collected).items()}

    def __call__(self, record: Dict[str, Any]) -> None:
        if not is_main_rank():
            return
        epoch = int(record.get("epoch", 0))
        scores = self._scores(epoch)
        record.update(scores)
        if self.line:           # with bars on, the trainer's own line (printed after this) shows the scores
            shown = {k: v for k, v in record.items() if isinstance(v, float) and k not in ("time", "lr")}
            print(f"epoch {epoch}/{self.epochs}: " + "  ".join(f"{k} {fmt(v)}" for k, v in shown.items())
                  + f"  ({record.get('time', 0.0):.1f} s)", flush=True)


def _run_loss(cfg, train_set, model, resumed: Optional[Path] = None) -> Optional[str]:
    """``--trainer.loss``, or else the dataset's protocol loss (``defaults["loss"]``: L1 on Los-loop,
    the Euclidean length on ETH/UCY) for a model with a point head; else None (the head's own). A
    resumed run keeps the loss its checkpoint records (a run from before the checkpoints recorded it
    trained with the head's own)."""
    if cfg.trainer.loss is not None:
        return cfg.trainer.loss
    if resumed is not None:
        from ..engine import load_checkpoint
        saved = load_checkpoint(resumed / "last.pt").get("config") or {}
        if "loss" not in saved:
            return None
    from ..nn.heads import DeterministicHead, head_of
    protocol = getattr(type(train_set), "defaults", {}).get("loss")
    if protocol is None or R.task_of(train_set) != "regression" or not isinstance(head_of(model), DeterministicHead):
        return None
    return protocol


#: the rollout error that selects a forecaster trained with each point loss (as the accuracy benchmark selects)
_ROLLOUT_MONITOR = {"l1": "mae", "euclidean": "ade"}


def _run_monitor(cfg, train_set, val_set, model, loss: Optional[str], resumed: Optional[Path]) -> Dict[str, Any]:
    """``--trainer.monitor``, or else, for a forecaster with a validation split, the validation error of its
    forecast in the sense of its loss (``val_mae`` after L1, ``val_ade`` after the Euclidean length, else
    ``val_mse``), as the accuracy benchmark selects; classifiers keep ``val_loss``. A resumed run keeps the
    monitor its checkpoint records. Returns the ``monitor`` (and ``metrics``) keywords to set."""
    if cfg.trainer.monitor is not None or val_set is None or len(val_set) == 0:
        return {}
    if resumed is not None:
        from ..engine import load_checkpoint
        monitor = (load_checkpoint(resumed / "last.pt").get("config") or {}).get("monitor")
        if not monitor:
            return {}
    elif R.task_of(train_set) != "regression":
        return {}
    else:
        monitor = f"val_{_ROLLOUT_MONITOR.get(loss or '', 'mse')}"
    out: Dict[str, Any] = {"monitor": monitor}
    if monitor == "val_ade":                  # not among evaluate's default metrics: scored as well
        from ..engine.evaluation import default_metrics
        listed = list(cfg.trainer.metrics) if cfg.trainer.metrics is not None else default_metrics(model, False)
        if "ade" not in listed:
            out["metrics"] = listed + ["ade"]
    return out


def _check_protocol_monitor(cfg, every_epoch: bool) -> None:
    """A ``--trainer.monitor`` that names a protocol score needs it every epoch."""
    from ..engine.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
    monitor = cfg.trainer.monitor
    builtin = {"train_loss"} | {f"val_{n}" for n in REGRESSION_METRICS + CLASSIFICATION_METRICS}
    if monitor is not None and monitor not in builtin and not every_epoch:
        why = (f"--protocol_every {cfg.protocol_every}" if cfg.protocol_every != 1 else "no validation split")
        raise CLIError(f"--trainer.monitor: {monitor!r} is not a trainer metric ({', '.join(sorted(builtin))}); "
                       f"a key of the dataset's protocol (val_KEY) needs it scored every epoch on a validation "
                       f"split: --protocol_every 1 (got {why})")


def _check_protocol_key(cfg, model, val_set, val_loader) -> None:
    """A ``--trainer.monitor`` naming a protocol score (not a trainer metric)
    is scored once on the starting weights, so that a key the protocol does not
    give is refused before training, not after the first epoch. The random
    generators are left as they were (the run trains as it would without it)."""
    from ..engine import collect
    from ..engine.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
    from ..engine.rng import kept_rng
    monitor = cfg.trainer.monitor
    builtin = {"train_loss"} | {f"val_{n}" for n in REGRESSION_METRICS + CLASSIFICATION_METRICS}
    if monitor is None or monitor in builtin or val_loader is None:
        return
    was_training = model.training
    try:
        with kept_rng():
            keys = sorted(protocol_score(val_set)(collect(model, val_loader, device=cfg.trainer.device)))
    finally:
        model.train(was_training)
    if monitor[len("val_"):] not in keys:
        raise CLIError(f"--trainer.monitor: {monitor!r} names no score of this dataset's protocol (val_KEY, KEY one of "
                       f"{', '.join(keys)}) nor a trainer metric")


def _fit_one(name: str, sets, cfg, out_dir: Path, extra: Dict[str, Any], meta: Dict[str, Any],
             resume: bool = False, restore_best: bool = False):
    """Build model ``name``, fit it with the ``--trainer.*`` options; returns
    the model, the fit result and the seconds it took."""
    import torch
    from ..engine import TrainConfig, fit
    torch.manual_seed(cfg.trainer.seed)
    model = R.build(name, sets["train"], cfg.hidden, extra)
    bs = cfg.batch_size or int(getattr(type(sets["train"]), "defaults", {}).get("batch_size", 32))
    train_loader = R.loader(sets["train"], bs, shuffle=True, num_workers=cfg.num_workers)
    if callable(getattr(model, "fit_closed_form", None)):   # linear_ar, seasonal_mean: the closed form on the
        model.fit_closed_form(R.loader(sets["train"], bs))  # training split, then scored, not trained by gradient
        model.trainable = False
    val_set = sets.get("val")
    val_loader = R.loader(val_set, bs, num_workers=cfg.num_workers) if val_set is not None else None
    # Scored every epoch, the protocol is the trainer's val_score: recorded before the checkpoints and the
    # early-stopping check, so --trainer.monitor may name one of its keys (val_MSE, val_80ms, val_f1, ...).
    every_epoch = val_set is not None and len(val_set) > 0 and cfg.protocol_every == 1
    _check_protocol_monitor(cfg, every_epoch)
    if not resume:
        _check_protocol_key(cfg, model, val_set, val_loader)
    reporter = EpochReporter(model, val_set, val_loader, cfg.trainer.epochs, 0 if every_epoch else cfg.protocol_every,
                             line=not cfg.progress)
    kw = dict(_trainer_kwargs(cfg, model), loss=_run_loss(cfg, sets["train"], model, out_dir if resume else None))
    kw.update(_run_monitor(cfg, sets["train"], val_set, model, kw["loss"], out_dir if resume else None))
    config = TrainConfig(**kw, out_dir=out_dir, resume=True if resume else None,
                         progress=cfg.progress, restore_best=restore_best,
                         val_score=protocol_score(val_set) if every_epoch else None,
                         callbacks=[reporter] + _loggers(cfg.logger, out_dir), meta={**meta, "batch_size": bs})
    start = time.perf_counter()
    try:
        result = fit(model, train_loader, val_loader, config)
    finally:
        for cb in config.callbacks:
            if hasattr(cb, "close"):
                cb.close()
    return model, result, time.perf_counter() - start


# ==================================================================== train
def _names(scan: Prescan, saved: Optional[Dict[str, Any]]) -> tuple:
    model = scan.model or _name_from_configs(scan.configs, "model") or (saved or {}).get("model", {}).get("name")
    data = scan.data or _name_from_configs(scan.configs, "data") or (saved or {}).get("data", {}).get("name")
    model, data = (model or "srnn").lower(), (data or "springs").lower()
    R.dataset_class(data)
    R.model_class(model)
    return model, data


#: keys of a run's experiment that no --override changes on --resume: its model and its data (the folder of the
#: data files may move)
_RESUME_FIXED = re.compile(r"^(model\.|data\.(?!root$)|hidden$)")


def _check_resume(parser, cfg, saved: Dict[str, Any], run: Path, override: bool) -> int:
    """The epoch ``run`` stopped at; a :class:`CLIError` naming the keys
    whose values contradict the saved config (unless ``override``; the
    model's and the data's never), or a total of epochs below it."""
    import yaml
    now, before = flatten(yaml.safe_load(_dump(parser, cfg))), flatten(saved)
    for key in ("model.name", "data.name"):            # registry names: any case
        for side in (now, before):
            if isinstance(side.get(key), str):
                side[key] = side[key].lower()
    bad = contradictions(before, now, list(RUN_KEYS) + list(RESUME_FREE))
    fixed = [k for k in bad if _RESUME_FIXED.match(k) and k in before]
    if bad and not override:
        kept = "" if not fixed else \
            f" (but not {', '.join('--' + k for k in fixed)}: a resumed run keeps its model and data)"
        raise CLIError(f"--resume {run}: {describe(bad, before, now)} contradict the saved "
                       f"{CONFIG_FILE}; drop them, or pass --override to change them{kept}")
    if fixed:
        raise CLIError(f"--resume {run}: cannot resume with {describe(fixed, before, now)}: a resumed run keeps its "
                       f"model and data, even with --override; start a new run instead: --config "
                       f"{run / CONFIG_FILE} --out_dir NEW (and --trainer.init_from {run} for its weights, same model)")
    if not (run / "last.pt").is_file():
        raise CLIError(f"--resume {run}: there is no last.pt to continue from (expected '{run / 'last.pt'}')")
    from ..engine import load_checkpoint
    epoch = int(load_checkpoint(run / "last.pt").get("epoch", 0))
    if cfg.trainer.epochs < epoch:
        raise CLIError(f"--trainer.epochs: 'epochs' is the total, and the run in {run} has trained {epoch}: pass "
                       f"epochs >= {epoch} to resume it (got {cfg.trainer.epochs})")
    return epoch


def _setup_train(argv: Sequence[str]):
    """Parse ``train``'s options; returns None after a help page, else the
    parser, the config, the run folder, the epoch resumed at and the scan."""
    scan = prescan(argv, "train")
    if scan.version:
        print(f"srnn-pyg {version()}")
        return None
    if scan.help and not (scan.model or scan.data or scan.configs or scan.resume is not None):
        light_train_parser("train").print_help()
        return None
    run, saved = None, None
    if scan.override and scan.resume is None:
        raise CLIError("--override changes options of a resumed run; pass it with --resume RUN (got no --resume)")
    if scan.resume is not None:
        if scan.overwrite:
            raise CLIError("--resume continues a run and --overwrite replaces it: pass one of them")
        run = resume_dir(scan.resume, _flag(scan.argv, "--out_dir"))
        check_nothing_set_aside(run)
        saved = read_config(run)
        check_writable(run / CONFIG_FILE, "--resume")
    model, data = _names(scan, saved)
    for group, name in (("model", model), ("data", data)):
        was = str((saved or {}).get(group, {}).get("name", name)).lower()
        if was != name:
            raise CLIError(f"--{group}: the run in {run} used {was!r} (got {name!r}); a resumed run keeps its "
                           f"{group}, start a new run instead")
    parser = build_typed_parser("train", model, data)
    if scan.help:
        parser.print_help()
        return None
    argv, printing = split_print_config(scan.argv)
    cfg = parse_typed(parser, (["--config", str(run / CONFIG_FILE)] if run else []) + argv)
    _check_trainer(cfg)
    resumed = _check_resume(parser, cfg, saved, run, scan.override) if run is not None else None
    if resumed is None:     # before any folder is made or cleared: a new run reads this checkpoint
        _check_init_from(cfg.trainer.init_from, run or (Path(cfg.out_dir) if cfg.out_dir else None))
    made = run is None and not cfg.out_dir
    if scan.overwrite and run is None and not cfg.out_dir:
        raise CLIError("--overwrite replaces the run in --out_dir; without --out_dir each run gets a new folder, "
                       "so there is nothing to replace (got no --out_dir)")
    if run is None and cfg.out_dir:
        prepare_out_dir(Path(cfg.out_dir), scan.overwrite, resumable=True)     # checks only: nothing made
    if printing:            # every value checked, nothing made or cleared
        print(_dump(parser, cfg, keep_out_dir=True), end="")
        return None
    if run is not None:
        out_dir = run
    elif cfg.out_dir:
        out_dir = Path(cfg.out_dir)
    else:
        out_dir = new_run_dir(f"{data}-{model}")
    cfg.out_dir = str(out_dir)
    guard = RunGuard({out_dir: "last.pt"}, overwrite=scan.overwrite, made=[out_dir] if made else [])
    return parser, cfg, out_dir, resumed, guard


def cmd_train(argv: Sequence[str]) -> int:
    setup = _setup_train(argv)
    if setup is None:
        return 0
    parser, cfg, out_dir, resumed, guard = setup
    with guard:     # an error before the first checkpoint leaves the folder as it was (a replaced run back)
        return _train_in(parser, cfg, out_dir, resumed, argv)


def _train_in(parser, cfg, out_dir: Path, resumed: Optional[int], argv: Sequence[str]) -> int:
    from ..engine import atomic_write_text
    threads = _set_threads(cfg.threads)
    dcfg, sets = _open_data(parser, cfg, ["val"])
    model_name, data_name = cfg.model.name, cfg.data.name
    if is_main_rank():
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_dump(parser, cfg), out_dir / CONFIG_FILE)
        if resumed is not None:
            print(f"resumed at epoch {resumed} of {cfg.trainer.epochs} ({out_dir})", flush=True)
    meta = {"dataset": data_name, "dataset_config": dcfg, "command": "srnn-pyg train " + " ".join(argv)}
    model, result, secs = _fit_one(model_name, sets, cfg, out_dir, explicit(parser, cfg, "model"), meta,
                                   resume=resumed is not None)
    if is_main_rank():
        _report_train(model_name, data_name, sets, result, secs, out_dir, resumed, threads)
    return 0


def _report_train(model: str, data: str, sets, result, secs: float, out_dir: Path, resumed, threads: int) -> None:
    total = sum(float(r.get("time") or 0.0) for r in result.history)
    timing = (f"this part {secs:.1f} s; {total:.1f} s of epochs in all, both parts" if resumed is not None
              else f"{secs:.1f} s")
    print(f"trained {model} on {data} ({len(sets['train'])} windows) to epoch {result.epochs_run} "
          f"({timing}; {threads} thread(s))" + (" (stopped early)" if result.stopped_early else ""))
    final = {k: v for k, v in result.final.items() if isinstance(v, float) and k != "time"}
    print("last epoch: " + "  ".join(f"{k} {fmt(v)}" for k, v in final.items()))
    if result.best_epoch is not None:
        print(f"best {result.monitor}: {fmt(result.best_score)} at epoch {result.best_epoch}")
    print(f"run folder: {out_dir} ({CONFIG_FILE}, best.pt, last.pt, metrics.jsonl)")
    print(f"evaluate with: srnn-pyg evaluate {out_dir / 'best.pt'}; continue with: srnn-pyg train --resume "
          f"{out_dir} --trainer.epochs N")


# ================================================================== compare
def _compare_names(text: str) -> List[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise CLIError(f"--models: expected comma-separated model names (got {text!r})")
    for n in names:
        R.model_class(n)
    return names


def _model_config(compare_yaml: str, name: str, extra: Dict[str, Any]) -> str:
    """A ``train`` config for model ``name`` of a comparison (its data,
    trainer and run options, its own model arguments), so that
    ``srnn-pyg train --resume CMP/NAME`` continues it."""
    import yaml
    data = yaml.safe_load(compare_yaml)
    for key in ("models", "model_arg", "split"):
        data.pop(key, None)
    data["model"] = {"name": name, **extra}
    parser = build_typed_parser("train", name, data["data"]["name"])
    return _dump(parser, parser.parse_object(data))


def _compare_row(cfg, n: str, extra: Dict[str, Any], sets, out_dir: Path, eval_loader, meta) -> Dict[str, Any]:
    """One row of the comparison: model ``n`` trained (in ``out_dir/n``,
    with its ``config.yaml``) and scored; an ``error`` row when it fails
    (the message also goes to stderr)."""
    import torch
    from ..engine import atomic_write_text
    if is_main_rank():
        (out_dir / n).mkdir(parents=True, exist_ok=True)
        atomic_write_text(_model_config((out_dir / CONFIG_FILE).read_text(), n, extra), out_dir / n / CONFIG_FILE)
    try:
        model, result, secs = _fit_one(n, sets, cfg, out_dir / n, extra, meta,
                                       restore_best=sets.get("val") is not None)
    except (ValueError, TypeError, NotImplementedError, FloatingPointError, CLIError) as e:   # a divergence too
        print(f"srnn-pyg compare: {n} failed: {' '.join(str(e).split())}", file=sys.stderr)
        return {"model": n, "error": str(e).splitlines()[0][:120]}
    if not is_main_rank():
        return {}
    device = next(iter(model.parameters()), torch.zeros(0)).device
    split = sets[cfg.split]
    if len(split) == 0:
        return {"model": n, "error": f"the {cfg.split} split holds no windows"}
    from ..engine import collect
    table = split.score(collect(model, eval_loader, device=device))
    return {"model": n, "params": R.num_params(model), "epochs": result.epochs_run,
            "best epoch": result.best_epoch, "train s": round(secs, 1), **table}


def _setup_compare(argv: Sequence[str]):
    scan = prescan(argv, "compare")
    if scan.version:
        print(f"srnn-pyg {version()}")
        return None
    if scan.resume is not None:
        raise CLIError("--resume: compare does not resume; resume one model with srnn-pyg train --resume "
                       "CMP/MODEL, or rerun compare into a new folder")
    if scan.help and not (scan.data or scan.configs):
        light_train_parser("compare").print_help()
        return None
    data = (scan.data or _name_from_configs(scan.configs, "data") or "springs").lower()
    R.dataset_class(data)
    parser = build_typed_parser("compare", None, data)
    if scan.help:
        parser.print_help()
        return None
    argv, printing = split_print_config(scan.argv)
    cfg = parse_typed(parser, argv)
    _check_trainer(cfg)
    names = _compare_names(cfg.models)
    key_values(cfg.model_arg, "--model-arg", scoped=True)
    extras = {n: check_model_args(n, R.model_extra(cfg.model_arg, n, strict=False)) for n in names}
    for key in key_values(cfg.model_arg, "--model-arg", scoped=True):
        if "." not in key and not any(key in extra for extra in extras.values()):   # a misspelt key, say
            raise CLIError(f"--model-arg {key}: none of the compared models ({', '.join(names)}) takes {key!r}; "
                           f"name one model's keyword (MODEL.KEY=VALUE) or see srnn-pyg train --model NAME --help")
    # before --overwrite clears anything: the weights to start from must not be in the folders it clears
    _check_init_from(cfg.trainer.init_from, Path(cfg.out_dir) if cfg.out_dir else None)
    given = bool(cfg.out_dir)
    if scan.overwrite and not given:
        raise CLIError("--overwrite replaces the comparison in --out_dir; without --out_dir each comparison gets a "
                       "new folder, so there is nothing to replace (got no --out_dir)")
    if cfg.out_dir:         # checks only: nothing made
        prepare_out_dir(Path(cfg.out_dir), scan.overwrite, resumable=False)
        for n in names:
            prepare_out_dir(Path(cfg.out_dir) / n, scan.overwrite, resumable=False)
    if printing:            # every value checked, nothing made or cleared
        print(_dump(parser, cfg, keep_out_dir=True), end="")
        return None
    if cfg.out_dir:
        out_dir = Path(cfg.out_dir)
    else:
        out_dir = new_run_dir(f"compare-{data}")
    cfg.out_dir = str(out_dir)
    guard = RunGuard({out_dir: "compare.md", **{out_dir / n: "last.pt" for n in names}}, overwrite=scan.overwrite,
                     made=[] if given else [out_dir])
    return parser, cfg, out_dir, extras, guard


def cmd_compare(argv: Sequence[str]) -> int:
    setup = _setup_compare(argv)
    if setup is None:
        return 0
    parser, cfg, out_dir, extras, guard = setup
    with guard:     # a model whose run never started keeps (or leaves) its folder as it was
        return _compare_in(parser, cfg, out_dir, extras, argv)


def _compare_in(parser, cfg, out_dir: Path, extras: Dict[str, Dict[str, Any]], argv: Sequence[str]) -> int:
    from ..engine import atomic_write_text
    _set_threads(cfg.threads)
    dcfg, sets = _open_data(parser, cfg, ["val", cfg.split])
    if sets.get(cfg.split) is None:
        raise CLIError(f"--split: {cfg.data.name} has no {cfg.split!r} split with these options (for PyG Temporal "
                       f"data, --data.val_ratio above 0 gives one); compare on 'test' or 'train'")
    if is_main_rank():
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(_dump(parser, cfg), out_dir / CONFIG_FILE)
    bs = cfg.batch_size or int(getattr(type(sets["train"]), "defaults", {}).get("batch_size", 32))
    eval_loader = R.loader(sets[cfg.split], bs, num_workers=cfg.num_workers)
    meta = {"dataset": cfg.data.name, "dataset_config": dcfg, "command": "srnn-pyg compare " + " ".join(argv)}
    start = time.perf_counter()
    rows = [_compare_row(cfg, n, extra, sets, out_dir, eval_loader, meta) for n, extra in extras.items()]
    if not is_main_rank():
        return 0
    scored = ("the epoch each model's monitor picked on the validation split ('best epoch')" if sets.get("val")
              is not None else "each model's last epoch (no validation split: 'best epoch' is by the training loss)")
    title = (f"{cfg.data.name}, split {cfg.split} ({len(sets[cfg.split])} windows); {cfg.trainer.epochs} "
             f"epoch(s), batch {bs}, lr {cfg.trainer.lr}, seed {cfg.trainer.seed}; "
             f"total {time.perf_counter() - start:.1f} s.\nScores: the dataset's protocol (its score(), in the units "
             f"its docs give), of {scored}.")
    atomic_write_text(f"# srnn-pyg compare\n\n{title}\n\n" + markdown_table(rows), out_dir / "compare.md")
    atomic_write_text(csv_table(rows), out_dir / "compare.csv")
    print(title)
    print(markdown_table(rows), end="")
    print(f"wrote {out_dir / 'compare.md'}, {out_dir / 'compare.csv'} and {out_dir / CONFIG_FILE}")
    return 1 if any("error" in r for r in rows) else 0
