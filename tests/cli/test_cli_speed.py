"""``srnn-pyg --help``, ``train --help`` and ``--version`` answer at once: the
command's own modules import neither torch nor the models (subprocesses).
What is checked is that property, not a time: timed assertions fail on a
busy machine."""
import subprocess
import sys

import pytest

# Imports srnn_pyg.cli without running srnn_pyg/__init__.py (which the
# command does not control), then times the help pages.
LIGHT = """
import contextlib, importlib.util, io, sys, time, types
spec = importlib.util.find_spec("srnn_pyg")
pkg = types.ModuleType("srnn_pyg"); pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["srnn_pyg"] = pkg
start = time.perf_counter()
from srnn_pyg.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    codes = [main(a) for a in (["--help"], ["train", "--help"], ["compare", "--help"], ["evaluate", "--help"],
                                ["forecast", "--help"], ["--version"])]
print(codes, round(time.perf_counter() - start, 3), "torch" in sys.modules, "--trainer.KEY" in out.getvalue())
"""


def _python(*args, timeout=120):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


def test_help_pages_import_no_torch():
    done = _python("-c", LIGHT)
    assert done.returncode == 0, done.stderr
    codes, _seconds, torch_loaded, listed = done.stdout.split("]")[0] + "]", *done.stdout.split("]")[1].split()
    assert codes == "[0, 0, 0, 0, 0, 0]" and torch_loaded == "False" and listed == "True"


def test_version():
    from importlib.metadata import version
    done = _python("-m", "srnn_pyg", "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"srnn-pyg {version('srnn_pyg')}"


def test_help_answers_without_importing_torch():
    probe = _python("-c", "import sys, srnn_pyg; print('torch' in sys.modules)")
    if probe.stdout.strip() == "True":
        pytest.skip("srnn_pyg/__init__.py imports torch eagerly; the command's own part is checked above")
    run = ("import runpy, sys\n"
           "sys.argv = ['srnn-pyg'] + sys.argv[1:]\n"
           "try:\n    runpy.run_module('srnn_pyg', run_name='__main__')\n"
           "except SystemExit as e:\n    code = e.code\n"
           "print('torch loaded:', 'torch' in sys.modules, 'exit:', code, file=sys.stderr)\n")
    for args in (["--help"], ["train", "--help"]):
        done = _python("-c", run, *args)
        assert "usage: srnn-pyg" in done.stdout, done.stderr
        assert "torch loaded: False exit: 0" in done.stderr, done.stderr


def test_compare_help_names_model_arg_not_model_key(capsys):
    # compare takes model arguments as --model-arg [MODEL.]KEY=VALUE; its help used to offer --model.KEY
    from srnn_pyg.cli import main
    assert main(["compare", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--model-arg" in text and "--model.KEY" not in text
    assert main(["train", "--help"]) == 0
    assert "--model.KEY" in " ".join(capsys.readouterr().out.split())
