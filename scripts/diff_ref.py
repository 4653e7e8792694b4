#!/usr/bin/env python3
"""Review a change without AWS: `cdk diff` of the working tree against another git ref.

Synthesizes the working tree and REF (default: main, exported with `git archive`, so the working tree
is never touched) into separate cloud assemblies, then runs the CDK CLI's own diff per stack
(`cdk diff --template <REF's template>`) and warns loudly when a stateful resource would be replaced
or removed. It also compares the API contract (docs/openapi.json of REF and of the working tree,
scripts/openapi_diff.py) and puts breaking API changes at the top of the report.

    python scripts/diff_ref.py [REF] [--stage dev|prod] [--api-only]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/ is not a package
import openapi_diff

PROJECT_ROOT = Path(__file__).resolve().parents[1]
OPENAPI_DOCUMENT = Path("docs/openapi.json")
STATEFUL_TYPES = (
    "AWS::DynamoDB::Table",
    "AWS::DynamoDB::GlobalTable",
    "AWS::S3::Bucket",
    "AWS::SQS::Queue",
    "AWS::Events::EventBus",
    "AWS::Cognito::UserPool",
    "AWS::Logs::LogGroup",
)
# cdk diff resource lines: "[-] AWS::S3::Bucket Bucket Bucket83908E77 destroy" or "[~] ... replace"
_RESOURCE_LINE = re.compile(r"^\[(?P<op>[-~+])\] (?P<type>AWS::\S+) (?P<path>\S+) (?P<id>\S+)(?P<rest>.*)$")


def stateful_losses(diff_output: str) -> list[str]:
    """The stateful resources a diff would replace or remove (their data would be lost)."""
    losses = []
    for line in diff_output.splitlines():
        match = _RESOURCE_LINE.match(line.strip())
        if not match or match["type"] not in STATEFUL_TYPES:
            continue
        replaced = match["op"] == "~" and "replace" in match["rest"]
        if match["op"] == "-" or replaced:
            verb = "REMOVED" if match["op"] == "-" else "REPLACED"
            losses.append(f"{match['type']} {match['path']} ({match['id']}) would be {verb}")
    return losses


def _run(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{result.stderr}")
    return result.stdout + result.stderr


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, check=False)  # noqa: S603, S607


def resolve_ref(ref: str) -> str:
    """REF itself, or origin/REF: a fresh clone of another branch has `main` only as `origin/main`."""
    for candidate in (ref, f"origin/{ref}"):
        if _git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}").returncode == 0:
            return candidate
    sys.exit(f"git ref {ref!r} not found (nor origin/{ref}): fetch it, or pass another REF=")


def share_cache(tree: Path, project_root: Path = PROJECT_ROOT) -> None:
    """Point the exported tree's `.cache` at the working tree's, creating it first: on a fresh clone
    (or after `make clean`) it does not exist yet, and a dangling link would break the layer build."""
    cache = project_root / ".cache"
    cache.mkdir(exist_ok=True)
    # The dependency layer cache is keyed by content, so both trees can share it.
    (tree / ".cache").symlink_to(cache, target_is_directory=True)


def export_ref(ref: str, destination: Path) -> None:
    archive = _git("archive", "--format=tar", ref)
    if archive.returncode != 0:
        sys.exit(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(destination, filter="data")
    share_cache(destination)


def synth(tree: Path, outdir: Path, stage: str) -> None:
    _run(["cdk", "synth", "--quiet", "--context", f"stage={stage}", "--output", str(outdir)], tree)


def diff_stacks(head_out: Path, base_out: Path) -> str:
    commands = []
    for template in sorted(head_out.glob("*.template.json")):
        stack = template.name.removesuffix(".template.json")
        base_template = base_out / template.name
        if not base_template.exists():  # a new stack: diff against an empty template
            base_template = base_out / f"{stack}.empty.json"
            base_template.write_text("{}")
        commands.append(
            ["cdk", "diff", "--app", str(head_out), "--exclusively", stack, "--template", str(base_template)]
        )
    # One CLI per stack (--template takes one stack), each mostly node start-up: run them at once.
    with ThreadPoolExecutor() as pool:
        report = list(pool.map(lambda command: _run(command, PROJECT_ROOT), commands))
    for removed in sorted(
        set(p.name for p in base_out.glob("*.template.json"))
        - {p.name for p in head_out.glob("*.template.json")}
    ):
        report.append(
            f"Stack {removed.removesuffix('.template.json')} would be DELETED with all its resources\n"
        )
    return "\n".join(report)


def _openapi_document(tree: Path) -> dict:
    path = tree / OPENAPI_DOCUMENT
    # A ref from before the document existed: every operation of the working tree is new.
    return json.loads(path.read_text()) if path.is_file() else {}


def api_section(ref: str, api: openapi_diff.ApiDiff) -> list[str]:
    body = openapi_diff.render(api, warnings=False).strip()  # the warnings lead the whole report
    return [f"## API contract ({OPENAPI_DOCUMENT}): working tree vs {ref}", "", body]


def report_text(ref: str, stage: str, infra: str | None, api: openapi_diff.ApiDiff) -> str:
    """The review report: data-loss and breaking-API warnings first, then the API and the infra diffs."""
    warnings: list[str] = []
    losses = stateful_losses(infra or "")
    if losses:
        warnings += ["**WARNING: stateful resources would lose their data:**"]
        warnings += [*[f"- {x}" for x in losses], ""]
    if api.breaking:
        warnings += ["**WARNING: breaking API changes:**", *[f"- {c}" for c in api.breaking], ""]
    sections = [*warnings, *api_section(ref, api)]
    if infra is not None:
        sections += ["", f"## cdk diff: working tree vs {ref} (stage {stage})", ""]
        sections += ["```", infra.strip(), "```"]
    return "\n".join(sections) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("ref", nargs="?", default="main", help="git ref to compare against (default: main)")
    parser.add_argument("--stage", default="dev", choices=["dev", "prod"])
    parser.add_argument("--api-only", action="store_true", help="compare only the API contract (no synth)")
    args = parser.parse_args(argv)
    args.ref = resolve_ref(args.ref)
    infra = None
    with tempfile.TemporaryDirectory(prefix="diff-ref-") as scratch:
        work = Path(scratch)
        base_tree, base_out, head_out = work / "base", work / "base.out", work / "head.out"
        base_tree.mkdir()
        export_ref(args.ref, base_tree)
        api = openapi_diff.compare(_openapi_document(base_tree), _openapi_document(PROJECT_ROOT))
        if not args.api_only:
            # Two independent synths (separate trees and outputs): side by side, on two cores.
            with ThreadPoolExecutor(max_workers=2) as pool:
                synths = [
                    pool.submit(synth, base_tree, base_out, args.stage),
                    pool.submit(synth, PROJECT_ROOT, head_out, args.stage),
                ]
                for done in synths:
                    done.result()
            infra = diff_stacks(head_out, base_out)
    text = report_text(args.ref, args.stage, infra, api)
    print(text)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as step_summary:
            step_summary.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
