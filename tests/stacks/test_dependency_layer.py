"""The dependency layer: installed from a hashed lock for Lambda's glibc, cached by the lock's content.

The build tests run pip offline against wheels made here (`PIP_NO_INDEX`, `PIP_FIND_LINKS`), so they
exercise the real pip command (platform tags, hashes, --no-deps) without the network.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from stacks.constructs import dependency_layer
from stacks.constructs.dependency_layer import DependencyBuildError, build_dependencies, build_key
from stacks.constructs.dependency_lock import (
    LOCK,
    LOCK_COMMAND,
    PLATFORMS,
    REQUIREMENTS,
    UV_PLATFORM,
    check_lock,
    requirements_digest,
)
from stacks.constructs.service_function import RUNTIME

PYTHON = RUNTIME.name.removeprefix("python")


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setattr(dependency_layer, "CACHE_ROOT", root)
    return root


@pytest.fixture
def wheelhouse(tmp_path, monkeypatch):
    """pip sees only the wheels put here: no index, no network."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


def make_wheel(folder: Path, name: str, platform: str, requires: tuple[str, ...] = ()) -> str:
    """A minimal binary wheel of `name` 1.0 for the target CPython on `platform`; returns its sha256."""
    abi = "cp" + PYTHON.replace(".", "")
    tag = f"{abi}-{abi}-{platform}"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{info}/METADATA": "\n".join(
            [
                "Metadata-Version: 2.1",
                f"Name: {name}",
                "Version: 1.0",
                *(f"Requires-Dist: {r}" for r in requires),
            ]
        ).encode()
        + b"\n",
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n".encode(),
    }
    record = [
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = folder / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def write_lock(path: Path, pins: dict[str, str]) -> Path:
    path.write_text("".join(f"{name}==1.0 \\\n    --hash=sha256:{digest}\n" for name, digest in pins.items()))
    return path


# ---- platform tags -------------------------------------------------------------------------------


def test_pip_is_offered_every_manylinux_tag_up_to_lambdas_glibc_2_34():
    assert PLATFORMS[0] == "manylinux_2_34_aarch64"  # newest first, as pip orders them on such a host
    assert {"manylinux2014_aarch64", "manylinux_2_17_aarch64", "manylinux_2_28_aarch64"} <= set(PLATFORMS)
    assert len(PLATFORMS) == (34 - 17 + 1) + 1  # 2_17 .. 2_34, plus the manylinux2014 alias
    assert not any(tag.startswith("manylinux_2_35") for tag in PLATFORMS)


def test_a_wheel_tagged_only_manylinux_2_28_is_installed(tmp_path, cache_root, wheelhouse):
    digest = make_wheel(wheelhouse, "newglibc", "manylinux_2_28_aarch64")
    lock = write_lock(tmp_path / "requirements.lock", {"newglibc": digest})
    site = build_dependencies(lock, RUNTIME) / "python"
    assert (site / "newglibc" / "__init__.py").is_file()


def test_a_wheel_needing_a_newer_glibc_than_lambdas_is_refused(tmp_path, cache_root, wheelhouse):
    digest = make_wheel(wheelhouse, "newerglibc", "manylinux_2_35_aarch64")
    lock = write_lock(tmp_path / "requirements.lock", {"newerglibc": digest})
    with pytest.raises(DependencyBuildError, match=r"(?s)No matching distribution.*newerglibc"):
        build_dependencies(lock, RUNTIME)


# ---- hashes and the lock as the only source of packages ------------------------------------------


def test_a_wheel_whose_hash_is_not_in_the_lock_is_refused(tmp_path, cache_root, wheelhouse):
    make_wheel(wheelhouse, "tampered", "manylinux2014_aarch64")
    lock = write_lock(tmp_path / "requirements.lock", {"tampered": "0" * 64})
    with pytest.raises(DependencyBuildError, match="HASHES"):
        build_dependencies(lock, RUNTIME)
    assert not (cache_root / build_key(lock, RUNTIME)).exists()


def test_a_lock_entry_without_a_hash_is_refused(tmp_path, cache_root, wheelhouse):
    make_wheel(wheelhouse, "unpinned", "manylinux2014_aarch64")
    lock = tmp_path / "requirements.lock"
    lock.write_text("unpinned==1.0\n")
    with pytest.raises(DependencyBuildError, match="Hashes are required"):
        build_dependencies(lock, RUNTIME)


def test_dependencies_not_in_the_lock_are_not_installed(tmp_path, cache_root, wheelhouse):
    # Its declared boto3 is nowhere to be found (no index): pip must not even look for it.
    digest = make_wheel(wheelhouse, "needsboto", "manylinux2014_aarch64", requires=("boto3>=1.0",))
    lock = write_lock(tmp_path / "requirements.lock", {"needsboto": digest})
    site = build_dependencies(lock, RUNTIME) / "python"
    assert sorted(p.name for p in site.iterdir()) == ["needsboto", "needsboto-1.0.dist-info"]


def test_a_failing_pip_is_a_clear_error_and_caches_nothing(tmp_path, cache_root, wheelhouse):
    lock = write_lock(tmp_path / "requirements.lock", {"this-package-does-not-exist-anywhere-4711": "0" * 64})
    expected = r"(?s)pip could not build the dependency layer.*No matching distribution.*4711"
    with pytest.raises(DependencyBuildError, match=expected):
        build_dependencies(lock, RUNTIME)
    assert not (cache_root / build_key(lock, RUNTIME)).exists()


# ---- cache key -----------------------------------------------------------------------------------


def test_key_follows_every_pinned_version_and_the_target_python(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK.read_text())
    first = build_key(lock, RUNTIME)
    assert build_key(lock, RUNTIME) == first
    assert build_key(lock, lambda_.Runtime.PYTHON_3_13) != first
    # A transitive package (not named in requirements.txt) moving changes the layer's asset hash.
    assert "\nwrapt==" in lock.read_text() and "wrapt" not in REQUIREMENTS.read_text()
    lock.write_text(LOCK.read_text().replace("\nwrapt==", "\nwrapt==0.0.0+", 1))
    assert build_key(lock, RUNTIME) != first


def _layer_s3_key(lock: Path, monkeypatch) -> str:
    from aws_cdk import App, Stack

    monkeypatch.setattr(dependency_layer, "LOCK", lock)
    stack = Stack(App(context={"aws:cdk:bundling-stacks": []}), "Probe")  # hash the asset, build nothing
    layer = dependency_layer.DependencyLayer(stack, "Deps", runtime=RUNTIME).layer
    return stack.resolve(layer.node.default_child.content)["s3Key"]  # type: ignore[union-attr]


def test_the_layers_asset_hash_changes_when_a_transitive_pin_changes(tmp_path, monkeypatch):
    same = tmp_path / "same.lock"
    same.write_text(LOCK.read_text())
    moved = tmp_path / "moved.lock"
    moved.write_text(LOCK.read_text().replace("\ntyping-extensions==", "\ntyping-extensions==0", 1))
    assert moved.read_text() != LOCK.read_text()
    assert _layer_s3_key(same, monkeypatch) == _layer_s3_key(LOCK, monkeypatch)
    assert _layer_s3_key(moved, monkeypatch) != _layer_s3_key(LOCK, monkeypatch)


def test_unchanged_lock_reuses_the_cached_build_without_running_pip(tmp_path, cache_root, monkeypatch):
    lock = write_lock(tmp_path / "requirements.lock", {"pydantic": "0" * 64})
    cached = cache_root / build_key(lock, RUNTIME) / "python"
    cached.mkdir(parents=True)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run on a cache hit")

    monkeypatch.setattr(dependency_layer.subprocess, "run", no_pip)
    assert build_dependencies(lock, RUNTIME) == cached.parent


def test_two_synths_at_once_build_the_layer_once(tmp_path, cache_root, monkeypatch):
    """diff-ref synthesizes two trees side by side: the second waits for the first build and reuses it."""
    lock = write_lock(tmp_path / "requirements.lock", {"pydantic": "0" * 64})
    builds = []
    second_started = threading.Event()

    def fake_pip(command, **kwargs):
        builds.append(command)
        second_started.wait(timeout=10)
        time.sleep(0.2)  # let the second synth reach the cache while this build is still running
        target = Path(command[command.index("--target") + 1])
        (target / "pydantic").mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(dependency_layer.subprocess, "run", fake_pip)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(build_dependencies, lock, RUNTIME)
        while not builds:
            time.sleep(0.01)
        second = pool.submit(lambda: (second_started.set(), build_dependencies(lock, RUNTIME))[1])
        results = {first.result(), second.result()}
    assert results == {cache_root / build_key(lock, RUNTIME)}
    assert len(builds) == 1
    assert (cache_root / build_key(lock, RUNTIME) / "python" / "pydantic").is_dir()


# ---- staleness (offline: no resolution) ----------------------------------------------------------


def test_the_lock_matches_requirements_txt_and_the_lambda_target():
    problems = check_lock(LOCK, REQUIREMENTS, PYTHON)
    assert not problems, "\n".join(problems)


@pytest.fixture
def lock_copy(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS.read_text())
    lock = tmp_path / "requirements.lock"
    lock.write_text(LOCK.read_text())
    assert check_lock(lock, requirements, PYTHON) == []
    return lock, requirements


def test_a_changed_requirement_makes_the_lock_stale(lock_copy):
    lock, requirements = lock_copy
    requirements.write_text(
        requirements.read_text().replace("pydantic[email]==2.14.3", "pydantic[email]==2.14.2")
    )
    problems = check_lock(lock, requirements, PYTHON)
    assert any("another requirements.txt" in p for p in problems)
    assert any(
        "pydantic==2.14.2 is in requirements.txt but requirements.lock has pydantic==2.14.3" in p
        for p in problems
    )
    assert all(f"`{LOCK_COMMAND}`" in p for p in problems)


def test_a_new_requirement_missing_from_the_lock_is_named(lock_copy):
    lock, requirements = lock_copy
    requirements.write_text(requirements.read_text() + "requests==2.34.2\n")
    assert any("requests==2.34.2 is in requirements.txt but requirements.lock has requests==(nothing)" in p
               for p in check_lock(lock, requirements, PYTHON))  # fmt: skip


def test_a_comment_edit_does_not_make_the_lock_stale(lock_copy):
    lock, requirements = lock_copy
    requirements.write_text("# reworded comment\n\n" + requirements.read_text().replace("# ", "#  "))
    assert check_lock(lock, requirements, PYTHON) == []
    assert requirements_digest(requirements) == requirements_digest(REQUIREMENTS)


def test_a_lock_for_another_python_or_platform_is_stale(lock_copy):
    lock, requirements = lock_copy
    assert any(
        f"not resolved for python3.13 {UV_PLATFORM}" in p for p in check_lock(lock, requirements, "3.13")
    )
    lock.write_text(lock.read_text().replace(UV_PLATFORM, "x86_64-manylinux_2_34"))
    assert check_lock(lock, requirements, PYTHON)


def test_a_lock_pinning_the_runtimes_sdk_or_without_hashes_is_refused(lock_copy):
    lock, requirements = lock_copy
    lock.write_text(
        lock.read_text() + "botocore==1.40.0 \\\n    --hash=sha256:" + "0" * 64 + "\nsix==1.17.0\n"
    )
    problems = check_lock(lock, requirements, PYTHON)
    assert any("['botocore', 'six'], which the Lambda runtime provides" in p for p in problems)
    assert any("without hashes ['six']" in p for p in problems)


def test_a_missing_lock_says_how_to_make_it(tmp_path):
    assert check_lock(tmp_path / "requirements.lock", REQUIREMENTS, PYTHON) == [
        f"requirements.lock is missing: regenerate it with `{LOCK_COMMAND}`"
    ]
