"""Hot reload's parts: finding each asset's source folder, sorting saves into code and infrastructure,
and a pool switching to new code without cutting an invocation in flight."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

from local_runtime.hot_reload import Changes, CodeSources, Watcher, clear_bytecode, source_dirs
from local_runtime.workers import FunctionSpec, Pool
from tests.helpers import function_spec

HANDLER = """
import time

VERSION = {version!r}

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {{"version": VERSION}}
"""


def _spec(code: Path, layers: list[Path] | None = None) -> FunctionSpec:
    return function_spec(code, layer_dirs=layers or [])


def _app(tmp_path: Path) -> Path:
    """An app folder with a function, a layer and their staged copies in cdk.out (as CDK stages them)."""
    root = tmp_path / "app"
    (root / "functions" / "hello").mkdir(parents=True)
    (root / "functions" / "hello" / "handler.py").write_text(HANDLER.format(version="v1"))
    (root / "functions" / "other").mkdir()
    (root / "functions" / "other" / "handler.py").write_text(HANDLER.format(version="other"))
    (root / "layers" / "shared" / "python" / "common").mkdir(parents=True)
    (root / "layers" / "shared" / "python" / "common" / "__init__.py").write_text("X = 1\n")
    (root / "stacks").mkdir()
    (root / "stacks" / "app_stack.py").write_text("# the stack\n")
    (root / "cdk.json").write_text(
        json.dumps({"app": "python app.py", "watch": {"include": ["**"], "exclude": ["tests/**", "**/*.md"]}})
    )
    out = root / "cdk.out"
    shutil.copytree(root / "functions" / "hello", out / "asset.aaa")
    shutil.copytree(root / "layers" / "shared", out / "asset.bbb")
    # A copy that differs from every folder (a bundled asset): it stays in the assembly.
    shutil.copytree(root / "functions" / "other", out / "asset.ccc")
    (out / "asset.ccc" / "bundled.txt").write_text("made by a bundling step")
    (out / "manifest.json").write_text("{}")
    return root


def test_each_asset_maps_to_the_folder_with_identical_files(tmp_path: Path) -> None:
    root = _app(tmp_path)
    out = root / "cdk.out"
    # Compiled files beside the sources are not part of the comparison (CDK's asset excludes them).
    (root / "functions" / "hello" / "__pycache__").mkdir()
    (root / "functions" / "hello" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0")
    found = source_dirs(root, [out / "asset.aaa", out / "asset.bbb", out / "asset.ccc"], skip=[out])
    assert found == {
        out / "asset.aaa": root / "functions" / "hello",
        out / "asset.bbb": root / "layers" / "shared",
    }


def test_specs_run_from_source_folders_and_unmatched_ones_from_the_assembly(tmp_path: Path) -> None:
    root = _app(tmp_path)
    out = root / "cdk.out"
    sources = CodeSources(root, skip=[out])
    hello = _spec(out / "asset.aaa", layers=[out / "asset.bbb" / "python"])
    other = _spec(out / "asset.ccc")
    other.construct_names = ["Other"]
    moved, kept = sources.run_from_sources([hello, other])
    assert moved.code_dir == root / "functions" / "hello"
    assert moved.layer_dirs == [root / "layers" / "shared" / "python"]
    assert kept.code_dir == out / "asset.ccc"
    assert sources.not_found == ["Other"]
    assert set(sources.folders) == {root / "functions" / "hello", root / "layers" / "shared"}


def test_saves_are_sorted_into_code_and_infrastructure_by_cdk_json_watch(tmp_path: Path) -> None:
    root = _app(tmp_path)
    code = [root / "functions" / "hello", root / "layers" / "shared"]
    watcher = Watcher(root, lambda: code, lambda changes: None, ignore=[root / "cdk.out"])
    changes = watcher.classify(
        [
            root / "functions" / "hello" / "handler.py",
            root / "layers" / "shared" / "python" / "common" / "__init__.py",
            root / "stacks" / "app_stack.py",
            root / "cdk.json",
            root / "tests" / "test_x.py",  # excluded by cdk.json
            root / "README.md",  # excluded by cdk.json
        ]
    )
    assert changes.code == {
        (root / "functions" / "hello").resolve(): ["functions/hello/handler.py"],
        (root / "layers" / "shared").resolve(): ["layers/shared/python/common/__init__.py"],
    }
    assert changes.infra == ["stacks/app_stack.py", "cdk.json"]
    # inotify needs a watch per folder: the assembly and virtualenvs are not watched at all.
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr\n")
    (root / "node_modules").mkdir()
    assert {p.name for p in watcher.folders()} == {"functions", "layers", "stacks"}


def test_a_save_is_reported_by_the_os_watch(tmp_path: Path) -> None:
    root = _app(tmp_path)
    seen: list[Changes] = []
    arrived = threading.Event()

    def on_changes(changes: Changes) -> None:
        seen.append(changes)
        arrived.set()

    watcher = Watcher(root, lambda: [root / "functions" / "hello"], on_changes, ignore=[root / "cdk.out"])
    watcher.start()
    try:
        assert watcher.wait_ready()
        (root / "functions" / "hello" / "handler.py").write_text(HANDLER.format(version="v2"))
        (root / "cdk.out" / "asset.aaa" / "handler.py").write_text("# the assembly is not watched\n")
        assert arrived.wait(10), "no change reported within 10 s"
    finally:
        watcher.stop()
    assert seen[0].code == {(root / "functions" / "hello").resolve(): ["functions/hello/handler.py"]}
    assert not any(c.infra for c in seen)


def test_recycle_runs_new_code_next_while_the_invocation_in_flight_finishes_on_the_old(
    tmp_path: Path,
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text(HANDLER.format(version="v1"))
    bytecode = tmp_path / "bytecode"  # the workers' cache, as the runtime sets it (its state dir)
    pool = Pool(_spec(code), {"PATH": os.environ["PATH"]}, tmp_path, bytecode_dir=bytecode)
    try:
        assert pool.invoke({}).result == {"version": "v1"}  # a warm worker on v1
        in_flight: list[object] = []
        slow = threading.Thread(target=lambda: in_flight.append(pool.invoke({"sleep": 1.5})))
        slow.start()
        time.sleep(0.5)  # the slow invocation runs on the warm v1 worker
        saved = (code / "handler.py").stat()
        (code / "handler.py").write_text(HANDLER.format(version="v2"))
        os.utime(code / "handler.py", ns=(saved.st_atime_ns, saved.st_mtime_ns))  # saved within one second
        clear_bytecode(code, bytecode)  # as the runtime does: same size within a second reads a stale .pyc
        pool.recycle()
        fresh = pool.invoke({})
        slow.join(10)
        assert fresh.result == {"version": "v2"} and fresh.cold
        assert in_flight[0].ok and in_flight[0].result == {"version": "v1"}  # type: ignore[attr-defined]
        # The v1 worker is not reused once its invocation ends.
        assert pool.invoke({}).result == {"version": "v2"}
        assert pool.warm_count() == 1
    finally:
        pool.stop()
