"""The dependency layer: third-party packages built for Lambda (arm64) at synth, without Docker.

pip downloads manylinux aarch64 wheels for the target Python; the result is cached under
`.cache/dependency-layer/<hash>` keyed by the requirements' content, so an unchanged file is not
rebuilt on the next synth.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = PROJECT_ROOT / "layers" / "dependencies" / "requirements.txt"
CACHE_ROOT = PROJECT_ROOT / ".cache" / "dependency-layer"
PLATFORM = "manylinux2014_aarch64"

# Shipped by the Lambda Python runtime; removing them keeps the layer small and the SDK the runtime's.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six")


class DependencyBuildError(RuntimeError):
    pass


def _python_version(runtime: lambda_.Runtime) -> str:
    return runtime.name.removeprefix("python")  # "python3.14" -> "3.14"


def build_key(requirements: Path, runtime: lambda_.Runtime) -> str:
    recipe = f"{_python_version(runtime)}|{PLATFORM}|{','.join(RUNTIME_PROVIDED)}|".encode()
    return hashlib.sha256(recipe + requirements.read_bytes()).hexdigest()[:32]


def _prune_runtime_provided(site: Path) -> None:
    for entry in site.iterdir():
        top_name = entry.name.split("-")[0].lower()
        if top_name in RUNTIME_PROVIDED or top_name in {"python_dateutil", "__pycache__", "bin"}:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for cache_dir in site.rglob("__pycache__"):
        shutil.rmtree(cache_dir, ignore_errors=True)


def build_dependencies(requirements: Path, runtime: lambda_.Runtime) -> Path:
    """Return a directory holding `python/<packages>`, building it unless the cache has it."""
    key = build_key(requirements, runtime)
    cached = CACHE_ROOT / key
    if (cached / "python").is_dir():
        print(f"[dependency-layer] cache hit {key}", file=sys.stderr)
        return cached
    staging = CACHE_ROOT / f".{key}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    started = time.monotonic()
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--only-binary=:all:", "--platform", PLATFORM, "--implementation", "cp",
        "--python-version", _python_version(runtime), "--target", str(staging / "python"),
        "--requirement", str(requirements),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (fixed argv)
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        errors = [line for line in output if line.startswith("ERROR")] or output
        raise DependencyBuildError(
            f"pip could not build the dependency layer from {requirements} "
            f"(exit {result.returncode}):\n" + "\n".join(errors)
        )
    _prune_runtime_provided(staging / "python")
    staging.rename(cached)
    print(f"[dependency-layer] built {key} in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return cached


@jsii.implements(ILocalBundling)
class _LocalPipBundling:
    def __init__(self, requirements: Path, runtime: lambda_.Runtime) -> None:
        self._requirements = requirements
        self._runtime = runtime

    def try_bundle(self, output_dir: str, _options: Any = None) -> bool:
        built = build_dependencies(self._requirements, self._runtime)
        shutil.copytree(built / "python", Path(output_dir) / "python", dirs_exist_ok=True)
        return True


class DependencyLayer(Construct):
    """A LayerVersion with the packages of layers/dependencies/requirements.txt."""

    def __init__(self, scope: Construct, construct_id: str, *, runtime: lambda_.Runtime) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Layer",
            description="Third-party Python packages (arm64) shared by the service's functions",
            compatible_runtimes=[runtime],
            compatible_architectures=[lambda_.Architecture.ARM_64],
            code=lambda_.Code.from_asset(
                str(REQUIREMENTS.parent),
                asset_hash_type=AssetHashType.CUSTOM,
                asset_hash=build_key(REQUIREMENTS, runtime),
                bundling=BundlingOptions(
                    # Never pulled: local bundling always succeeds or raises with pip's error.
                    image=DockerImage.from_registry("unused-local-bundling-only"),
                    local=_LocalPipBundling(REQUIREMENTS, runtime),  # type: ignore[arg-type]  # jsii.implements
                ),
            ),
        )
