"""What a Python function can import, as in Lambda: its own folder, its layers, the standard library and
the SDK that Lambda's runtime provides (boto3 and its dependencies). A package that is only installed on
this machine (the venv of the tests and the runtime) is not found, so a function that imports one fails
here as it fails in AWS (Runtime.ImportModuleError) instead of working only locally.
A layer whose native code cannot load here (an arm64 dependency layer) is stood in for by the host's
copies of the packages it holds, and only those."""

from __future__ import annotations

import importlib.metadata
import os
import textwrap
from pathlib import Path

from local_runtime.workers import Pool, layer_problem
from tests.helpers import function_spec

HANDLER = """
import importlib.metadata

def handler(event, context):
    if "where" in event:  # which copy of a module the function imports
        return {"where": __import__(event["where"]).__file__}
    import boto3
    found = {"boto3": importlib.metadata.version("boto3")}
    for module, distribution in (("yaml", "PyYAML"), ("moto", "moto")):
        try:
            __import__(module)
            found[module] = importlib.metadata.version(distribution)
        except ImportError as error:
            found[module] = f"{type(error).__name__}: {error}"
    return found
"""


def invoke(tmp_path: Path, event: dict | None = None, **spec: object) -> dict:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "handler.py").write_text(textwrap.dedent(HANDLER))
    pool = Pool(function_spec(code, **spec), {"PATH": os.environ["PATH"]}, tmp_path)
    try:
        invocation = pool.invoke(event or {})
    finally:
        pool.stop()
    assert invocation.ok, invocation.error
    return invocation.result


def arm64_layer(root: Path, *packages: tuple[str, str]) -> Path:
    """A layer's python/ folder as the dependency layer is built: (module, distribution) pairs with their
    dist-info, and native code for arm64 / Python 3.14 that cannot load on this host."""
    python_dir = root / "layer" / "python"
    for module, distribution in packages:
        (python_dir / module).mkdir(parents=True)
        (python_dir / f"{distribution}-1.0.dist-info").mkdir()
    (python_dir / "native.cpython-314-aarch64-linux-gnu.so").write_bytes(b"\x7fELF" + bytes(14) + b"\xb7\x00")
    return python_dir


def test_a_package_only_installed_on_this_machine_is_not_found(tmp_path: Path) -> None:
    found = invoke(tmp_path)
    assert found["yaml"] == "ModuleNotFoundError: No module named 'yaml'"
    assert found["moto"] == "ModuleNotFoundError: No module named 'moto'"
    assert found["boto3"] == importlib.metadata.version("boto3")  # what Lambda's runtime provides


def test_a_layer_that_cannot_load_here_is_stood_in_for_by_the_packages_it_holds(tmp_path: Path) -> None:
    layer = arm64_layer(tmp_path, ("yaml", "pyyaml"))
    problem = layer_problem(layer)
    assert problem is not None and "aarch64" in problem
    found = invoke(tmp_path, skipped_layers=[(layer, problem)])
    assert found["yaml"] == importlib.metadata.version("PyYAML")  # the module and its metadata
    assert found["moto"] == "ModuleNotFoundError: No module named 'moto'"  # not in that layer


def test_the_functions_own_copy_comes_before_the_runtimes(tmp_path: Path) -> None:
    assert invoke(tmp_path, {"where": "six"})["where"].endswith("site-packages/six.py")
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "six.py").write_text("")
    assert invoke(tmp_path, {"where": "six"})["where"] == str(tmp_path / "code" / "six.py")
