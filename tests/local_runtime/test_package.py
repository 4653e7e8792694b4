"""The local runtime is its own package (local-runtime/pyproject.toml): installed by `make setup` with its
console script, and its wheel carries the files the runtime reads at run time (the console page, the
Node.js bootstrap), not only the Python modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "local-runtime"


def test_installed_with_its_version_and_console_script() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    assert metadata.version(project["name"]) == project["version"]
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["local-runtime"] == "local_runtime.__main__:main"
    help_text = subprocess.run(
        [Path(sys.executable).parent / "local-runtime", "up", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--cdk-out" in help_text and "--parameters" in help_text and "--no-watch" in help_text


def test_the_wheel_carries_the_runtime_s_data_files(tmp_path: Path) -> None:
    # Built as pip builds it for an install from PyPI: in an isolated environment with the build backend,
    # from a copy (setuptools writes build/ and .egg-info/ beside the sources).
    ignore = shutil.ignore_patterns("build", "*.egg-info")
    source = shutil.copytree(PACKAGE, tmp_path / "source", ignore=ignore)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("cdk_local_runtime-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("console.html", "_bootstrap.js", "_bootstrap.py", "runtime.py", "__main__.py"):
        assert f"local_runtime/{needed}" in names, needed
