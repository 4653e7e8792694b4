"""The dependency layer's lock file: every package, transitive ones included, pinned with its hashes.

`layers/dependencies/requirements.txt` names what the functions import; `requirements.lock` is that set
resolved for the Lambda target (CPython 3.14 on Amazon Linux 2023, arm64) by `uv pip compile
--generate-hashes`. The layer is installed from the lock alone (`--require-hashes --no-deps`), so a
synth today and one in a year ship the same files, and the layer's asset hash follows the lock.

Regenerate with `make lock` (`python -m stacks.constructs.dependency_lock`); it needs PyPI.
`check_lock` tells, offline, whether the lock still matches requirements.txt.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = PROJECT_ROOT / "layers" / "dependencies" / "requirements.txt"
LOCK = PROJECT_ROOT / "layers" / "dependencies" / "requirements.lock"
LOCK_COMMAND = "make lock"

# Lambda's python3.14 runtime runs on Amazon Linux 2023
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), whose glibc is 2.34
# (https://docs.aws.amazon.com/linux/al2023/ug/glibc-gcc-and-binutils.html): a wheel tagged for
# any manylinux up to glibc 2.34 loads there, one needing a newer glibc does not.
GLIBC = (2, 34)
ARCH = "aarch64"
# pip does not widen `--platform manylinux_2_34_aarch64` to older tags, so every one is passed,
# newest first (the order pip itself prefers on such a host). manylinux2014 is manylinux_2_17's alias.
PLATFORMS = (
    *(f"manylinux_{GLIBC[0]}_{minor}_{ARCH}" for minor in range(GLIBC[1], 16, -1)),
    f"manylinux2014_{ARCH}",
)
# uv's name for the same target, used to resolve the lock.
UV_PLATFORM = f"{ARCH}-manylinux_{GLIBC[0]}_{GLIBC[1]}"

# Shipped by the Lambda Python runtime (boto3 and its dependencies): left out of the lock, so the
# layer stays small and the functions use the runtime's SDK. The runtime, not the lock, fixes their versions.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")

_HEADER_DIGEST = re.compile(r"^# requirements-sha256: (?P<digest>[0-9a-f]{64})$", re.MULTILINE)
_HEADER_TARGET = re.compile(r"^# target: python(?P<python>\S+) (?P<platform>\S+)$", re.MULTILINE)
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)", re.MULTILINE
)


def canonical_name(name: str) -> str:
    """PEP 503 normalisation: `Typing_Extensions` and `typing-extensions` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(requirements: Path) -> list[str]:
    """The requirement lines, without comments or blank lines, sorted (their order resolves the same)."""
    lines = (line.split("#", 1)[0].strip() for line in requirements.read_text().splitlines())
    return sorted(line for line in lines if line)


def requirements_digest(requirements: Path) -> str:
    """What the lock's header records: editing a comment in requirements.txt does not stale the lock."""
    return hashlib.sha256("\n".join(requirement_lines(requirements)).encode()).hexdigest()


def pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements or lock file, by canonical name."""
    return {canonical_name(m["name"]): m["version"] for m in _PIN.finditer(text)}


def check_lock(lock: Path, requirements: Path, python_version: str) -> list[str]:
    """Why the lock does not match requirements.txt and the target (empty when it does). No network."""
    regenerate = f"regenerate it with `{LOCK_COMMAND}`"
    if not lock.is_file():
        return [f"{lock.name} is missing: {regenerate}"]
    text = lock.read_text()
    problems = []
    digest = _HEADER_DIGEST.search(text)
    if not digest:
        problems.append(f"{lock.name} has no `# requirements-sha256:` header: {regenerate}")
    elif digest["digest"] != requirements_digest(requirements):
        problems.append(f"{lock.name} was generated from another {requirements.name}: {regenerate}")
    target = _HEADER_TARGET.search(text)
    if not target or (target["python"], target["platform"]) != (python_version, UV_PLATFORM):
        problems.append(f"{lock.name} is not resolved for python{python_version} {UV_PLATFORM}: {regenerate}")
    locked = pins(text)
    for name, version in pins(requirements.read_text()).items():
        if locked.get(name) != version:
            problems.append(
                f"{name}=={version} is in {requirements.name} but {lock.name} has "
                f"{name}=={locked.get(name, '(nothing)')}: {regenerate}"
            )
    shipped = sorted(set(locked) & {canonical_name(name) for name in RUNTIME_PROVIDED})
    if shipped:
        problems.append(f"{lock.name} pins {shipped}, which the Lambda runtime provides: {regenerate}")
    unhashed = [name for name, block in _blocks(text) if "--hash=sha256:" not in block]
    if unhashed:
        problems.append(f"{lock.name} has packages without hashes {unhashed}: {regenerate}")
    return problems


def _blocks(text: str) -> list[tuple[str, str]]:
    """(name, its lines) for each pinned package of a lock file."""
    starts = list(_PIN.finditer(text))
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return [(canonical_name(m["name"]), text[m.start() : end]) for m, end in zip(starts, ends, strict=True)]


def compile_lock(python_version: str, requirements: Path = REQUIREMENTS, lock: Path = LOCK) -> None:
    """Resolve requirements.txt for the Lambda target with uv and write the lock with its header."""
    command = [
        sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--no-header", "--generate-hashes",
        "--python-version", python_version, "--python-platform", UV_PLATFORM,
        *(arg for name in RUNTIME_PROVIDED for arg in ("--no-emit-package", name)),
        str(requirements.relative_to(PROJECT_ROOT)),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"uv pip compile failed (exit {result.returncode}):\n{result.stderr.strip()}")
    header = [
        f"# Generated by `{LOCK_COMMAND}` from {requirements.name}; do not edit.",
        f"# requirements-sha256: {requirements_digest(requirements)}",
        f"# target: python{python_version} {UV_PLATFORM}",
        f"# Left out, the Lambda runtime provides them: {' '.join(RUNTIME_PROVIDED)}",
    ]
    lock.write_text("\n".join(header) + "\n" + result.stdout)


def main() -> int:
    from stacks.constructs.service_function import RUNTIME  # the functions' runtime is the target

    python_version = RUNTIME.name.removeprefix("python")
    compile_lock(python_version)
    problems = check_lock(LOCK, REQUIREMENTS, python_version)
    print(
        "\n".join(problems)
        or f"wrote {LOCK.relative_to(PROJECT_ROOT)} for python{python_version} {UV_PLATFORM}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
