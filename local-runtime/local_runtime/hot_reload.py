"""Hot reload for `up`: function code runs from its source folder and reloads on save; other app sources
are re-synthesized and the new assembly is applied to the running app.

Which files count comes from cdk.json's `watch` (`include`/`exclude` globs), the settings `cdk watch`
uses (https://docs.aws.amazon.com/cdk/v2/guide/ref-cli-cmd-watch.html); cdk.json itself always counts.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import watchfiles

from local_runtime.workers import FunctionSpec

log = logging.getLogger("local_runtime.reload")

# Files a build leaves beside the sources; CDK assets of this kind of app exclude them too.
_NOT_SOURCE = ("__pycache__", ".pytest_cache", ".mypy_cache")
_DEFAULT_WATCH = {"include": ["**"], "exclude": ["tests/**", "docs/**", "**/*.md"]}


def _tree_files(directory: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SOURCE and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(".pyc"):
                path = Path(current, name)
                found.append((path.relative_to(directory).as_posix(), path))
    return found


def _digest(files: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()


def source_dirs(app_root: Path, asset_dirs: Iterable[Path], skip: Iterable[Path]) -> dict[Path, Path]:
    """asset dir → the folder under app_root with exactly the same files (names and contents).

    The assembly does not record where an asset was copied from, so the match is by content; an asset
    with no identical folder (bundled, filtered, generated) keeps running from the assembly."""
    skipped = {p.resolve() for p in skip}
    file_hash: dict[Path, str] = {}

    def content(path: Path) -> str:
        if path not in file_hash:
            file_hash[path] = hashlib.sha256(path.read_bytes()).hexdigest()
        return file_hash[path]

    wanted: dict[str, list[Path]] = {}
    for asset in {Path(a) for a in asset_dirs}:
        files = _tree_files(asset)
        wanted.setdefault(_digest((rel, content(path)) for rel, path in files), []).append(asset)
    sizes = {len(_tree_files(asset)) for assets in wanted.values() for asset in assets}
    found: dict[Path, Path] = {}
    for current, dirs, _files in os.walk(app_root):
        here = Path(current)
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".")
            and d not in (*_NOT_SOURCE, "node_modules")
            and (here / d).resolve() not in skipped
            and not (here / d / "manifest.json").is_file()  # another cloud assembly
        ]
        files = _tree_files(here)
        if len(files) not in sizes:
            continue
        for asset in wanted.get(_digest((rel, content(path)) for rel, path in files), []):
            found.setdefault(asset, here)
    return found


def watch_settings(app_root: Path) -> dict[str, list[str]]:
    cdk_json = app_root / "cdk.json"
    settings = json.loads(cdk_json.read_text()).get("watch") if cdk_json.is_file() else None
    return {
        "include": list((settings or _DEFAULT_WATCH).get("include", ["**"])),
        "exclude": list((settings or _DEFAULT_WATCH).get("exclude", [])),
    }


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    """A glob as `cdk watch` reads it: `*` within one folder, `**` across folders (`**/` also none)."""
    regex = ""
    for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
        regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token))
    return re.compile(regex + r"\Z")


def _matches(relative: str, patterns: list[str]) -> bool:
    """A glob matches the path or one of its parent folders (`**/__pycache__` excludes what is inside)."""
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(_glob(pattern).match(p) for pattern in patterns for p in prefixes)


@dataclass
class Changes:
    code: dict[Path, list[str]] = field(default_factory=dict)  # source folder → changed files in it
    infra: list[str] = field(default_factory=list)  # other app sources (relative paths)


class Watcher:
    """Watches the app's folder (watchfiles: inotify on Linux) and sorts each batch of saves into code
    changes (a function's or layer's source folder) and infrastructure changes (anything else cdk.json's
    `watch` includes).

    inotify needs a watch per folder, so virtualenvs, node_modules, hidden folders and the assemblies are
    not watched at all (not just filtered): the app's top-level files are watched without recursion, its
    other top-level folders recursively."""

    def __init__(
        self,
        app_root: Path,
        code_folders: Callable[[], Iterable[Path]],
        on_changes: Callable[[Changes], None],
        ignore: Iterable[Path] = (),
    ) -> None:
        self.app_root = app_root.resolve()
        self._code_folders = code_folders
        self._on_changes = on_changes
        self.settings = watch_settings(self.app_root)
        self._ignore = {Path(p).resolve() for p in ignore}
        self._filter = watchfiles.DefaultFilter(ignore_paths=[str(p) for p in self._ignore])
        self._stop = threading.Event()
        self._ready: list[threading.Event] = []
        self._threads: list[threading.Thread] = []

    def folders(self) -> list[Path]:
        """The app's top-level folders worth watching recursively."""
        found = []
        for child in sorted(self.app_root.iterdir()):
            if (
                child.is_dir()
                and not child.name.startswith(".")
                and child.name not in ("node_modules", *_NOT_SOURCE)
                and child.resolve() not in self._ignore
                and not (child / "pyvenv.cfg").is_file()
                and not (child / "manifest.json").is_file()
            ):
                found.append(child)
        return found

    def start(self) -> None:
        for paths, recursive in (([self.app_root], False), (self.folders(), True)):
            if paths:
                ready = threading.Event()
                self._ready.append(ready)
                thread = threading.Thread(
                    target=self._run, args=(paths, recursive, ready), name="hot-reload", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def wait_ready(self, timeout_s: float = 5.0) -> bool:
        """True once every OS watch is in place (each watcher's first timeout tick came back)."""
        return all(ready.wait(timeout_s) for ready in self._ready)

    def classify(self, paths: Iterable[Path]) -> Changes:
        changes = Changes()
        folders = sorted({Path(f).resolve() for f in self._code_folders()}, key=lambda p: -len(p.parts))
        for path in paths:
            path = path.resolve()
            try:
                relative = path.relative_to(self.app_root).as_posix()
            except ValueError:
                continue
            folder = next((f for f in folders if path == f or f in path.parents), None)
            if folder is not None:
                changes.code.setdefault(folder, []).append(relative)
            elif relative == "cdk.json" or (
                _matches(relative, self.settings["include"])
                and not _matches(relative, self.settings["exclude"])
            ):
                changes.infra.append(relative)
        return changes

    def _run(self, paths: list[Path], recursive: bool, ready: threading.Event) -> None:
        # A batch is handed over 50 ms after its last file event (an editor's save is several events).
        for batch in watchfiles.watch(
            *paths,
            watch_filter=self._filter,
            stop_event=self._stop,
            debounce=400,
            step=50,
            rust_timeout=200,
            yield_on_timeout=True,
            raise_interrupt=False,
            recursive=recursive,
        ):
            ready.set()
            if not batch:
                continue
            changes = self.classify(Path(path) for _change, path in batch)
            if changes.code or changes.infra:
                try:
                    self._on_changes(changes)
                except Exception:
                    log.exception("hot reload failed")


def clear_bytecode(folder: Path, prefix: Path) -> None:
    """Python checks a cached .pyc by the source's mtime in whole seconds and its size: two saves within
    one second with the same size would import the stale one. The workers cache under `prefix` (their
    sys.pycache_prefix: a tree mirroring the source's absolute path); other processes in its __pycache__."""
    source = folder.resolve()
    shutil.rmtree(prefix / source.relative_to(source.anchor), ignore_errors=True)
    for cache in folder.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


@dataclass
class Synth:
    """Re-synthesizes the app into a fresh folder with the user's own synth command."""

    command: list[str]
    app_root: Path
    out_root: Path
    _count: int = 0

    def run(self) -> tuple[Path | None, str, float]:
        """(assembly dir or None on failure, the command's output, seconds)."""
        self._count += 1
        out = self.out_root / f"synth-{self._count}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        result = subprocess.run(  # noqa: S603 (the user's own synth command)
            [*self.command, "--output", str(out)],
            cwd=self.app_root,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0 or not (out / "manifest.json").is_file():
            shutil.rmtree(out, ignore_errors=True)
            return None, output, seconds
        return out, output, seconds


def _asset_root(path: Path) -> Path:
    """The staged asset folder (`asset.<hash>`) a layer's import path is inside."""
    return next((p for p in (path, *path.parents) if p.name.startswith("asset.")), path)


class CodeSources:
    """Runs functions from their source folders instead of the assembly's copies, so a save is live."""

    def __init__(self, app_root: Path, skip: Iterable[Path]) -> None:
        self.app_root = app_root.resolve()
        self.skip = list(skip)
        self.folders: dict[Path, list[str]] = {}  # source folder → display names of functions using it
        self.not_found: list[str] = []

    def run_from_sources(self, specs: list[FunctionSpec]) -> list[FunctionSpec]:
        assets = {spec.code_dir for spec in specs}
        assets |= {_asset_root(layer) for spec in specs for layer in spec.layer_dirs}
        found = source_dirs(self.app_root, assets, self.skip)
        self.folders, self.not_found, result = {}, [], []
        for spec in specs:
            code = found.get(spec.code_dir)
            layers = []
            for layer in spec.layer_dirs:
                root = _asset_root(layer)
                layers.append(found[root] / layer.relative_to(root) if root in found else layer)
                if root in found:
                    self.folders.setdefault(found[root], []).append(spec.display)
            if code is None:
                self.not_found.append(spec.display)
            else:
                self.folders.setdefault(code, []).append(spec.display)
            result.append(replace(spec, code_dir=code or spec.code_dir, layer_dirs=layers))
        return result
