"""The dependency layer build: cached by the requirements' content, clear error when pip fails."""

from __future__ import annotations

import pytest
from aws_cdk import aws_lambda as lambda_

from stacks.constructs import dependency_layer
from stacks.constructs.dependency_layer import DependencyBuildError, build_dependencies, build_key

RUNTIME = lambda_.Runtime.PYTHON_3_14


@pytest.fixture
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setattr(dependency_layer, "CACHE_ROOT", root)
    return root


def test_key_follows_the_requirements_content_and_the_target_python(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3\n")
    first = build_key(requirements, RUNTIME)
    assert build_key(requirements, RUNTIME) == first
    assert build_key(requirements, lambda_.Runtime.PYTHON_3_13) != first
    requirements.write_text("pydantic==2.14.2\n")
    assert build_key(requirements, RUNTIME) != first


def test_unchanged_requirements_reuse_the_cached_build_without_running_pip(tmp_path, cache_root, monkeypatch):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic==2.14.3\n")
    cached = cache_root / build_key(requirements, RUNTIME) / "python"
    cached.mkdir(parents=True)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run on a cache hit")

    monkeypatch.setattr(dependency_layer.subprocess, "run", no_pip)
    assert build_dependencies(requirements, RUNTIME) == cached.parent


def test_a_failing_pip_is_a_clear_error_and_caches_nothing(tmp_path, cache_root):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("this-package-does-not-exist-anywhere-4711==1.0\n")
    expected = r"(?s)pip could not build the dependency layer.*No matching distribution.*4711"
    with pytest.raises(DependencyBuildError, match=expected):
        build_dependencies(requirements, RUNTIME)
    assert not (cache_root / build_key(requirements, RUNTIME)).exists()
