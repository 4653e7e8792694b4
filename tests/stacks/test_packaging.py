"""Each function's code asset holds exactly its own folder; the dependency layer is built for arm64."""

from __future__ import annotations

import hashlib
from pathlib import Path

from stacks.constructs.dependency_lock import RUNTIME_PROVIDED, canonical_name
from tests.conftest import FUNCTIONS_DIR

IGNORED = {"__pycache__"}


def files_under(root: Path) -> dict[str, str]:
    """Relative path → content hash: two functions may have files of the same names (handler.py, ...)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and not IGNORED & set(path.relative_to(root).parts) and path.suffix != ".pyc"
    }


def asset_dir(stage_app, code: dict) -> Path:
    return stage_app.outdir / f"asset.{code['S3Key'].removesuffix('.zip')}"


def test_each_function_asset_contains_only_its_own_folder(stage_app):
    folders = {folder.name: files_under(folder) for folder in FUNCTIONS_DIR.iterdir() if folder.is_dir()}
    functions = stage_app.service_functions().values()
    packaged = [files_under(asset_dir(stage_app, f["Properties"]["Code"])) for f in functions]
    assert packaged
    deployed = []
    for files in packaged:
        matches = [name for name, own in folders.items() if own == files]
        assert len(matches) == 1, f"asset {sorted(files)} is not exactly one function folder"
        deployed += matches
    assert sorted(deployed) == sorted(folders)  # every function folder is deployed, each once


def test_dependency_layer_has_arm64_wheels_and_no_runtime_provided_sdk(stage_app):
    layers = stage_app.resources("Service", "AWS::Lambda::LayerVersion")
    (dependency,) = (layer for name, layer in layers.items() if name.startswith("DependencyLayer"))
    site = asset_dir(stage_app, dependency["Properties"]["Content"]) / "python"
    assert (site / "aws_lambda_powertools").is_dir()
    assert (site / "pydantic").is_dir()
    assert not (site / "boto3").exists() and not (site / "botocore").exists()
    # Nothing the Lambda runtime already ships (boto3 and its dependencies) is in the layer.
    installed = {canonical_name(info.name.split("-")[0]) for info in site.glob("*.dist-info")}
    assert installed and not installed & {canonical_name(name) for name in RUNTIME_PROVIDED}
    native = list((site / "pydantic_core").glob("_pydantic_core*.so"))
    assert native and all("aarch64" in lib.name for lib in native)
    assert dependency["Properties"]["CompatibleArchitectures"] == ["arm64"]
