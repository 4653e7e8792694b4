"""Run the e2e suite against a deployed stage (`make test-deployed STAGE=dev`, deploy.yml before prod).

The stage is found from `cdk deploy --outputs-file` (ApiUrl, UserPoolId, E2eClientId), or given
explicitly. Test users are made and removed with the Cognito admin API under the caller's AWS
credentials; tests that look inside the local runtime skip themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The e2e files whose tests speak only HTTP to the API (and Cognito's admin API for users).
REMOTE_SUITE = ["tests/e2e/test_users_api.py", "tests/e2e/test_auth.py", "tests/e2e/test_flows.py"]


def stage_from_outputs(path: Path) -> dict[str, str]:
    if not path.is_file():
        sys.exit(f"{path} does not exist: deploy the stage first (make deploy writes it)")
    outputs: dict[str, str] = {}
    for stack_outputs in json.loads(path.read_text()).values():
        outputs.update(stack_outputs)
    missing = [key for key in ("ApiUrl", "UserPoolId", "E2eClientId") if key not in outputs]
    if missing:
        sys.exit(f"{path} has no {', '.join(missing)}: is userPool.testClient true for this stage?")
    return {
        "api_url": outputs["ApiUrl"],
        "user_pool_id": outputs["UserPoolId"],
        "client_id": outputs["E2eClientId"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outputs", type=Path, help="the stage's cdk deploy --outputs-file")
    parser.add_argument("--api-url")
    parser.add_argument("--user-pool-id")
    parser.add_argument("--client-id", help="an app client allowing ADMIN_USER_PASSWORD_AUTH")
    parser.add_argument(
        "--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    )
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments")
    args = parser.parse_args(argv)
    stage = stage_from_outputs(args.outputs) if args.outputs else {}
    stage = {key: getattr(args, key) or stage.get(key) for key in ("api_url", "user_pool_id", "client_id")}
    missing = [
        f"--{key.replace('_', '-')}" for key, value in {**stage, "region": args.region}.items() if not value
    ]
    if missing:
        parser.error(f"missing {', '.join(missing)} (or --outputs)")
    environment = {
        **os.environ,
        "E2E_API_URL": stage["api_url"],
        "E2E_USER_POOL_ID": stage["user_pool_id"],
        "E2E_CLIENT_ID": stage["client_id"],
        "E2E_REGION": args.region,
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        *REMOTE_SUITE,
        "-rs",
        "-p",
        "no:cacheprovider",
        *args.pytest_args,
    ]
    return subprocess.call(command, cwd=PROJECT_ROOT, env=environment)  # noqa: S603 (our interpreter)


if __name__ == "__main__":
    sys.exit(main())
