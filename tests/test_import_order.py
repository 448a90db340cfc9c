"""Every module of the package imports as the first import of a fresh
interpreter: ``from srnn_pyg.loader import OneHopLoader`` or ``import
srnn_pyg.convert`` on their own once failed on a circular import (loader ->
data -> convert -> loader) that the rest of the suite, importing the package
in another order, never met."""
import pkgutil
import subprocess
import sys

import srnn_pyg

MODULES = sorted(m.name for m in pkgutil.walk_packages(srnn_pyg.__path__, "srnn_pyg.")
                 if m.name != "srnn_pyg.__main__")


def test_every_module_imports_first():
    # One interpreter (torch loaded once); before each module, every srnn_pyg module is dropped from
    # sys.modules, so that module is the package's first import, as in a fresh interpreter.
    script = ("import sys, warnings\n"
              "import torch, torch_geometric\n"
              "warnings.simplefilter('ignore')\n"
              "failed = []\n"
              "for name in sys.argv[1:]:\n"
              "    for key in [k for k in sys.modules if k == 'srnn_pyg' or k.startswith('srnn_pyg.')]:\n"
              "        del sys.modules[key]\n"
              "    try:\n"
              "        __import__(name)\n"
              "    except Exception as e:\n"
              "        failed.append((name, repr(e)))\n"
              "print(failed)\n"
              "sys.exit(1 if failed else 0)\n")
    r = subprocess.run([sys.executable, "-c", script, *MODULES], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(MODULES) > 30


def test_conversions_are_re_exported_by_the_data_module():
    from srnn_pyg import convert, data
    for name in ("from_dense", "from_hetero", "from_networkx", "from_temporal_signal", "to_hetero", "to_networkx"):
        assert getattr(data, name) is getattr(convert, name)
    import pytest
    with pytest.raises(AttributeError, match="no_such_name"):
        data.no_such_name


def test_dir_of_the_data_module_lists_the_conversions_before_their_first_use():
    """``dir(srnn_pyg.data)`` (what completion reads) names the lazily re-exported conversions in a fresh
    process, before anything used them, and still names the module's own classes."""
    script = ("import srnn_pyg.data as d\n"
              "names = dir(d)\n"
              "assert 'from_networkx' not in vars(d), 'imported eagerly: the test would not test the lazy path'\n"
              "print(sorted(n for n in names if n.startswith(('from_', 'to_', 'ST'))))\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    listed = eval(r.stdout.strip())
    assert {"from_dense", "from_hetero", "from_networkx", "from_temporal_signal", "to_hetero", "to_networkx",
            "STData", "STSchema"} <= set(listed), listed
