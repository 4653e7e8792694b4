"""Every Makefile target works as the first command after `git clone`, as the Makefile's header promises.

Each target runs in its own fresh clone of this repository (HEAD, plus the working tree's uncommitted
changes to tracked files so a change is checked before it is committed): no `.cache`, `cdk.out`,
`.local-runtime` or `docs/` output from an earlier command. To keep this fast the clone reuses the
installed `.venv` and `node_modules` through symlinks, and `make -o` stops make from reinstalling into
them; installing itself is proven by CI, whose `.ci/run` is `make test` on a fresh clone. Every target but
`make synth` also reuses the built dependency layers (.cache/dependency-layer, keyed by the lock's hash):
`make synth` builds one from nothing. Only `make synth` runs CDK's built-in template validation (the
templates are the same for every target).

Targets not run here are listed in NOT_RUN_HERE with the reason; a new target must be put in one list.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

NOT_RUN_HERE = {
    "setup": "installs the venvs and node_modules: CI's `.ci/run` (`make test` on a fresh clone) runs it",
    "test": "the whole suite (~3 min): CI runs it as the first command on a fresh clone",
    "diff": "needs AWS credentials and a deployed stage",
    "deploy": "needs AWS credentials",
    "browser": "installs a Debian package with apt-get (root or sudo); `make test` runs it first, also on "
    "CI's fresh clone",
    "test-deployed": "needs a deployed stage and AWS credentials; tests/e2e/test_remote_mode.py runs its "
    "script against a separately started local runtime",
    "bench": "runs for minutes (`make bench`); benchmarks are tested in tests/test_benchmarks.py",
}
COMMAND_TIMEOUT = 300


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", (PROJECT_ROOT / "Makefile").read_text(), flags=re.MULTILINE))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def tail(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True).stdout


class Clone:
    def __init__(self, root: Path) -> None:
        self.root = root

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
        # CDK's built-in CloudFormation validation of the templates (~2.5 s of CPU per synth) runs in
        # check_synth, on the same templates as every other target's synth: the others skip it.
        return {**env, "CDK_VALIDATION": "false", **extra}

    def share_dependency_layer_cache(self) -> None:
        """Use the checkout's built dependency layers (a cache keyed by the lock's hash, like the shared
        venv): building one from nothing on a fresh clone is check_synth's to prove."""
        shared = PROJECT_ROOT / ".cache" / "dependency-layer"
        shared.mkdir(parents=True, exist_ok=True)
        (self.root / ".cache").mkdir()
        (self.root / ".cache" / "dependency-layer").symlink_to(shared, target_is_directory=True)

    def make_argv(self, target: str, *variables: str) -> list[str]:
        # -o: the symlinked installs count as up to date (the clone's requirement files are newer).
        installed = (".venv/.installed", ".venv-checkov/.installed", "node_modules/.installed")
        return ["make", *[arg for path in installed for arg in ("-o", path)], target, *variables]

    def make(self, target: str, *variables: str, **env: str) -> Result:
        done = subprocess.run(
            self.make_argv(target, *variables),
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def changed(self) -> list[str]:
        """Tracked files the command changed (untracked: the two symlinks and build output)."""
        return _git("status", "--porcelain", "--untracked-files=no", cwd=self.root).decode().splitlines()


@pytest.fixture
def clone(tmp_path: Path) -> Clone:
    root = tmp_path / "clone"
    _git("clone", "--quiet", str(PROJECT_ROOT), str(root), cwd=tmp_path)
    patch = _git("diff", "HEAD", "--binary", cwd=PROJECT_ROOT)
    if patch:  # committed in the clone, so a target that changes tracked files shows in `git status`
        _git("apply", "--binary", "--index", "-", cwd=root, stdin=patch)
        who = ("-c", "user.name=fresh-clone test", "-c", "user.email=fresh-clone@localhost")
        _git(*who, "commit", "--quiet", "--no-verify", "-m", "working tree changes", cwd=root)
    venv, node_modules = Path(sys.prefix), PROJECT_ROOT / "node_modules"
    checkov_venv = PROJECT_ROOT / ".venv-checkov"
    for installed in (venv / ".installed", checkov_venv / ".installed", node_modules / ".installed"):
        assert installed.exists(), f"{installed} missing: run `make setup` first"
    assert not any((root / name).exists() for name in (".cache", "cdk.out", ".local-runtime"))
    (root / ".venv").symlink_to(venv, target_is_directory=True)
    (root / ".venv-checkov").symlink_to(checkov_venv, target_is_directory=True)
    (root / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return Clone(root)


def _free_port() -> int:
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---- one check per target ------------------------------------------------------------------------


def check_help(clone: Clone) -> None:
    result = clone.make("help")
    assert result.returncode == 0, result.tail()
    documented = set(
        re.findall(r"^([a-z-]+):.*## ", (clone.root / "Makefile").read_text(), flags=re.MULTILINE)
    )
    assert documented and {f"make {t}" for t in documented} <= {
        " ".join(line.split()[:2]) for line in result.stdout.splitlines()
    }, result.tail()


def check_synth(clone: Clone) -> None:
    result = clone.make("synth", CDK_VALIDATION="true")  # as a user runs it: templates validated
    assert result.returncode == 0, result.tail()
    assert {p.name for p in (clone.root / "cdk.out").glob("*.template.json")}, result.tail()
    builds = (clone.root / ".cache" / "dependency-layer").iterdir()
    assert any((build / "python").is_dir() for build in builds)  # a built layer, not just its lock file
    # cdk.out is marked as the stage's, and only that stage's: `make up` reuses it without a synth, and
    # after `make synth STAGE=prod` it would not serve prod's templates as dev's.
    assert sorted(p.name for p in (clone.root / "cdk.out").glob(".synth-*")) == [".synth-dev"]


def check_diff_ref(clone: Clone) -> None:
    # REF=HEAD exists in every clone; resolving the default `main` is tested in test_review_workflow.
    result = clone.make("diff-ref", "REF=HEAD")
    assert result.returncode == 0, result.tail()
    assert "## cdk diff: working tree vs HEAD (stage dev)" in result.stdout, result.tail()
    assert "would lose their data" not in result.stdout, result.tail()


def check_diagram(clone: Clone) -> None:
    result = clone.make("diagram")
    assert result.returncode == 0, result.tail()
    assert clone.changed() == [], "make diagram changed tracked files (is docs/architecture.md stale?)"


def check_openapi(clone: Clone) -> None:
    result = clone.make("openapi")
    assert result.returncode == 0, result.tail()
    assert clone.changed() == [], "make openapi changed tracked files (is docs/openapi.json stale?)"


def check_lint(clone: Clone) -> None:
    # mypy's cache is only speed (a cold run: ~6 s of CPU, see pyproject.toml); share the checkout's.
    result = clone.make("lint", MYPY_CACHE_DIR=str(PROJECT_ROOT / ".mypy_cache"))
    assert result.returncode == 0, result.tail()


def check_lock(clone: Clone) -> None:
    result = clone.make("lock")  # resolves against PyPI, as synth's layer build downloads from it
    assert result.returncode == 0, result.tail()
    assert "wrote layers/dependencies/requirements.lock" in result.stdout, result.tail()


def check_clean(clone: Clone) -> None:
    result = clone.make("clean")
    assert result.returncode == 0, result.tail()
    assert clone.changed() == [], "make clean removed tracked files"


def check_token(clone: Clone) -> None:
    """Without `make up` running: a clear message naming `make up`, not a traceback."""
    result = clone.make("token")
    assert result.returncode != 0, result.tail()
    assert "make up" in result.stderr and "Traceback" not in result.stderr, result.tail()


def check_up(clone: Clone) -> None:
    """`make up` synthesizes and serves; `make token` then gets a token from it; Ctrl-C stops it."""
    ports = (f"PORT={_free_port()}", f"AWS_PORT={_free_port()}")
    log = clone.root.parent / "up.log"
    with log.open("w") as output:
        up = subprocess.Popen(
            clone.make_argv("up", *ports),
            cwd=clone.root,
            env=clone.env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to make and the runtime: the process group
        )
    try:
        deadline = time.monotonic() + COMMAND_TIMEOUT
        while "Stage: dev" not in log.read_text() and up.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "Stage: dev" in log.read_text(), log.read_text()[-3000:]
        state = json.loads((clone.root / ".local-runtime" / "state.json").read_text())
        assert state["api"], state
        token = clone.make("token")
        assert token.returncode == 0, token.tail()
        assert re.fullmatch(r"[\w-]+\.[\w-]+\.[\w-]+", token.stdout.strip()), token.tail()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGINT)
        returncode = up.wait(timeout=60)
    # make itself dies of the SIGINT (as on Ctrl-C in a terminal) once the runtime has stopped cleanly.
    assert returncode in (0, -signal.SIGINT), log.read_text()[-3000:]
    assert "Stopped." in log.read_text() and "Traceback" not in log.read_text(), log.read_text()[-3000:]


CHECKS: dict[str, Callable[[Clone], None]] = {
    "help": check_help,
    "synth": check_synth,
    "up": check_up,
    "token": check_token,
    "diff-ref": check_diff_ref,
    "diagram": check_diagram,
    "lint": check_lint,
    "openapi": check_openapi,
    "lock": check_lock,
    "clean": check_clean,
}


def test_every_target_is_checked_here_or_says_why_not():
    targets = makefile_targets()
    assert not set(CHECKS) & set(NOT_RUN_HERE)
    assert set(CHECKS) | set(NOT_RUN_HERE) == targets, (
        f"classify {sorted(targets - set(CHECKS) - set(NOT_RUN_HERE))} in tests/test_fresh_clone.py"
    )


def test_every_target_that_uses_the_venv_sets_it_up_first():
    """The header's promise for the targets not run here too: each one using .venv depends on setup."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    for target in makefile_targets():
        rule = re.search(rf"^{re.escape(target)}:(?P<deps>[^\n#]*)(?:#[^\n]*)?\n(?P<recipe>(?:\t[^\n]*\n)*)",
                         makefile, flags=re.MULTILINE)  # fmt: skip
        assert rule, target
        uses_venv = "$(BIN)" in rule["recipe"] or "$(CDK)" in rule["recipe"]
        if uses_venv:
            assert "setup" in rule["deps"].split(), (
                f"`make {target}` uses the venv without depending on setup"
            )


@pytest.mark.parametrize("target", sorted(CHECKS))
def test_target_works_as_the_first_command_of_a_fresh_clone(target: str, clone: Clone) -> None:
    if target != "synth":
        clone.share_dependency_layer_cache()
    CHECKS[target](clone)
