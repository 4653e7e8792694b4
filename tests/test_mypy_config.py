"""mypy checks the app against exactly the aws_cdk modules it imports (pyproject.toml): the others are
skipped, since following all ~300 that aws_cdk's __init__ imports made a cold `make lint` take ~50 s of
CPU. An import added to the app without its module in the list would be checked as Any: this fails."""

from __future__ import annotations

import ast
import tomllib

from tests.conftest import PROJECT_ROOT


def aws_cdk_modules_the_app_imports() -> set[str]:
    modules = {"aws_cdk"}
    for path in [PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "stacks").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "aws_cdk":
                modules |= {f"aws_cdk.{a.name}" for a in node.names if a.name.startswith("aws_")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aws_cdk."):
                modules.add(node.module or "")
            elif isinstance(node, ast.Import):
                modules |= {a.name for a in node.names if a.name.startswith("aws_cdk.")}
    return modules


def test_mypy_follows_exactly_the_aws_cdk_modules_the_app_imports() -> None:
    overrides = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    followed = [o for o in overrides if o.get("follow_imports") == "normal"]
    assert {"module": "aws_cdk.*", "follow_imports": "skip"} in overrides
    assert len(followed) == 1 and set(followed[0]["module"]) == aws_cdk_modules_the_app_imports()
