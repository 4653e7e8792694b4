"""Generate the service's OpenAPI spec from the API functions' Powertools resolvers.

Each API function's `handler.app` describes its own routes; their specs are merged into one document.

    python scripts/openapi.py                               # print the spec
    python scripts/openapi.py --output docs/openapi.json    # write it
    python scripts/openapi.py --check                       # exit 1 if docs/openapi.json is stale
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = ROOT / "functions"
SHARED_LAYER = ROOT / "layers" / "shared" / "python"
DEFAULT_OUTPUT = ROOT / "docs" / "openapi.json"

TITLE = "Orders service API"
VERSION = "1.0.0"

# Folders under functions/ whose handler exposes a Powertools resolver as `app`.
API_FUNCTIONS = ("users_api", "orders_api", "uploads_api", "files_api")

# Handlers read their configuration at import; the spec does not depend on the values.
PLACEHOLDER_ENV = {
    "USERS_TABLE_NAME": "placeholder-users-table",
    "ORDERS_TABLE_NAME": "placeholder-orders-table",
    "ORDERS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/placeholder-orders-queue",
    "UPLOADS_BUCKET_NAME": "placeholder-uploads-bucket",
    "UPLOAD_MAX_BYTES": "10485760",
    "PRESIGN_EXPIRY_SECONDS": "300",
    "ORDERS_BY_USER_INDEX": "byUser",
    "FILES_TABLE_NAME": "placeholder-files-table",
    "FILES_BY_USER_INDEX": "byUser",
    "DOWNLOAD_EXPIRY_SECONDS": "300",
    "PAGE_TOKEN_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:placeholder-AbCdEf",
    "CORS_ALLOW_ORIGINS": "https://app.example.com",
}


@contextmanager
def _placeholder_env() -> Iterator[None]:
    """Set the placeholders that are missing, then restore: importing this script changes no one's env."""
    previous = {name: os.environ.get(name) for name in PLACEHOLDER_ENV}
    os.environ.update({name: value for name, value in PLACEHOLDER_ENV.items() if not previous[name]})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_app(folder: str) -> Any:
    """Import functions/<folder>/handler.py as Lambda would (its folder and the shared layer on the path).

    Every function has a `handler` module (and may have `models`, ...), so its own modules are
    dropped from sys.modules around the import to keep functions from seeing each other's.
    """
    code_dir = FUNCTIONS_DIR / folder
    own = {path.stem for path in code_dir.glob("*.py")}
    own |= {path.name for path in code_dir.iterdir() if (path / "__init__.py").is_file()}
    if str(SHARED_LAYER) not in sys.path:
        sys.path.append(str(SHARED_LAYER))
    for name in own:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(code_dir))
    try:
        with _placeholder_env():
            return importlib.import_module("handler").app
    finally:
        sys.path.remove(str(code_dir))
        for name in own:
            sys.modules.pop(name, None)


def merge(specs: dict[str, dict]) -> dict:
    """One document from per-function specs; a route or schema defined differently twice is an error."""
    merged: dict[str, Any] = {}
    for folder, spec in specs.items():
        if not merged:
            # openapi, info and servers are the same in every function's spec: take the first's.
            merged = {**spec, "paths": {}, "components": {**spec.get("components", {}), "schemas": {}}}
        for path, operations in spec.get("paths", {}).items():
            for method, operation in operations.items():
                if method in merged["paths"].get(path, {}):
                    raise ValueError(f"{method.upper()} {path} is defined twice (again in {folder})")
                merged["paths"].setdefault(path, {})[method] = operation
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            # Shared models (e.g. Powertools' ValidationError) appear in every spec, identically.
            if merged["components"]["schemas"].setdefault(name, schema) != schema:
                raise ValueError(f"Schema {name} from {folder} differs from another function's {name}")
    return merged


def build_spec(folders: Sequence[str] = API_FUNCTIONS) -> dict:
    specs = {
        folder: json.loads(load_app(folder).get_openapi_json_schema(title=TITLE, version=VERSION))
        for folder in folders
    }
    return merge(specs)


def render(spec: dict) -> str:
    # Sorted keys keep the file's diffs stable whatever order routes are registered in.
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="write the spec to this file instead of printing it")
    parser.add_argument(
        "--check",
        action="store_true",
        help=f"exit 1 if the spec file (--output, default {DEFAULT_OUTPUT.relative_to(ROOT)}) is stale",
    )
    args = parser.parse_args(argv)
    text = render(build_spec())

    if args.check:
        target = args.output or DEFAULT_OUTPUT
        current = target.read_text() if target.is_file() else None
        if current != text:
            state = "missing" if current is None else "stale"
            print(
                f"{target} is {state}: regenerate it with `python scripts/openapi.py --output {target}`",
                file=sys.stderr,
            )
            return 1
        print(f"{target} is up to date")
    elif args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"Wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
