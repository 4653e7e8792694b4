"""Size: each function's code asset and each layer in the cloud assembly, unzipped and zipped.

Sizes are deterministic for a given assembly (measured once, no repetitions). Zipped = a deflate zip
of the asset directory, as CDK zips a directory asset for upload.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any


def directory_size(root: Path) -> tuple[int, int, int]:
    """(files, bytes unzipped, bytes zipped with deflate)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, path.relative_to(root).as_posix())
    return len(files), sum(p.stat().st_size for p in files), buffer.getbuffer().nbytes


def assets(assembly: Path) -> dict[str, dict[str, Any]]:
    """Functions and layers with a directory asset, by construct path (stack-less)."""
    found: dict[str, dict[str, Any]] = {}
    for template in sorted(assembly.glob("*.template.json")):
        resources = json.loads(template.read_text()).get("Resources", {})
        for logical_id, resource in resources.items():
            if resource["Type"] not in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion"):
                continue
            metadata = resource.get("Metadata", {})
            asset_path = metadata.get("aws:asset:path")
            if not asset_path or not (assembly / asset_path).is_dir():
                continue
            cdk_path = metadata.get("aws:cdk:path", logical_id)
            name = "/".join(cdk_path.split("/")[1:-1]) or logical_id
            kind = "layer" if resource["Type"].endswith("LayerVersion") else "function"
            found[name] = {"kind": kind, "dir": assembly / asset_path}
    return found


def run(assembly: Path) -> dict[str, Any]:
    items = {}
    for name, asset in assets(assembly).items():
        files, unzipped, zipped = directory_size(asset["dir"])
        items[name] = {
            "kind": asset["kind"],
            "files": files,
            "unzipped_bytes": unzipped,
            "zipped_bytes": zipped,
        }
    return {"repetitions": 1, "note": "deterministic: measured once", "assets": items}
