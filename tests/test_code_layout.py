"""The package's shape rules (issue "one pipeline"): small modules, small
functions, and no module reaching into another module's private names."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "srnn_pyg"
FILES = sorted(PACKAGE.rglob("*.py"))
# Names that numpy's own pickles refer to: the restricted unpickler must resolve them.
THIRD_PARTY_PRIVATE = {"_reconstruct", "_frombuffer"}


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_and_function_sizes(path):
    lines = path.read_text().count("\n")
    assert lines <= 700, f"{path.name} has {lines} lines (at most 700)"
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = node.end_lineno - node.lineno + 1
            assert size <= 100, f"{path.name}:{node.lineno} {node.name} has {size} lines (at most 100)"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_imports(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__") and name not in THIRD_PARTY_PRIVATE:
                    pytest.fail(f"{path.name}:{node.lineno} imports the private name {name!r} "
                                f"from {node.module!r}")


def test_metrics_import_no_dataset():
    for node in ast.walk(_tree(PACKAGE / "metrics.py")):
        if isinstance(node, ast.ImportFrom):
            assert "datasets" not in (node.module or ""), "metrics.py must not import a dataset"
