"""python -m local_runtime up | invoke | fire-schedule | token | unused-grants, and the console's actions:
messages | delete-message | redrive | items | objects | invocations | denied (README: "Run it locally")."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local_runtime import model, priority
from local_runtime.deploy_rules import AccountSettings
from local_runtime.iam import unused_grants
from local_runtime.runtime import Options, Runtime
from local_runtime.templates import App, TemplateError

# Grants Lambda itself uses with the function's role; the runtime does not emulate these services.
EXPLAINED_PREFIXES = {
    "logs:": "Lambda writes the function's logs with its role (CloudWatch Logs is not emulated)",
    "xray:": "Lambda/X-Ray SDK send traces with the role (X-Ray is not emulated)",
}


def _state(state_dir: Path) -> dict[str, Any]:
    state_file = state_dir / "state.json"
    if not state_file.is_file():
        sys.exit(f"The local runtime is not running ({state_file} not found): start it with `make up`.")
    return json.loads(state_file.read_text())


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (localhost control port)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _control(args: argparse.Namespace, method: str, path: str, body: Any = None) -> int:
    """One console action on the running runtime; its JSON answer on stdout, an error on stderr."""
    base = _state(Path(args.state_dir))["control"]
    status, answer = _get(base + path) if method == "GET" else _post(base + path, body or {})
    if status != 200:
        print(f"error: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, default=str))
    return 0


def _quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def cmd_messages(args: argparse.Namespace) -> int:
    return _control(args, "GET", f"/api/queues/{_quoted(args.queue)}/messages?limit={args.limit}")


def cmd_delete_message(args: argparse.Namespace) -> int:
    return _control(args, "POST", f"/api/queues/{_quoted(args.queue)}/delete", {"messageId": args.message_id})


def cmd_redrive(args: argparse.Namespace) -> int:
    return _control(args, "POST", f"/api/queues/{_quoted(args.dlq)}/redrive", {"to": args.to})


def cmd_items(args: argparse.Namespace) -> int:
    token = f"&nextToken={_quoted(args.next_token)}" if args.next_token else ""
    return _control(args, "GET", f"/api/tables/{_quoted(args.table)}?limit={args.limit}{token}")


def cmd_objects(args: argparse.Namespace) -> int:
    token = f"&nextToken={_quoted(args.next_token)}" if args.next_token else ""
    return _control(args, "GET", f"/api/buckets/{_quoted(args.bucket)}?limit={args.limit}{token}")


def cmd_invocations(args: argparse.Namespace) -> int:
    return _control(args, "GET", "/api/invocations")


def cmd_denied(args: argparse.Namespace) -> int:
    return _control(args, "GET", "/api/denied")


def _post(url: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 (the runtime's localhost control port)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 (localhost control port)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def cmd_up(args: argparse.Namespace) -> int:
    options = Options(
        assembly_dir=[Path(directory) for directory in args.cdk_out or ["cdk.out"]],
        state_dir=Path(args.state_dir),
        region=args.region,
        api_port=args.port,
        gateway_port=args.aws_port,
        skip_unknown=args.skip_unknown,
        account=AccountSettings(api_gateway_cloudwatch_role=args.apigw_cloudwatch_role),
        watch=args.watch,
        synth_command=shlex.split(args.synth_command) if args.synth_command else (),
        openapi=Path(args.openapi) if args.openapi else None,
        parameters=dict(_parameter(item) for item in args.parameters),
        background_nice=args.background_nice,
    )
    runtime = Runtime(options)
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        runtime.start()
        if args.stage:
            print(f"Stage: {args.stage}", flush=True)
        stop.wait()
        print("Stopping: workers, pollers, servers...", flush=True)
    except (TemplateError, model.UnsupportedResourcesError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(
            f"error: {error} (is another runtime using --port {args.port} / --aws-port {args.aws_port}?)",
            file=sys.stderr,
        )
        return 2
    finally:
        runtime.stop()
    print("Stopped.", flush=True)
    return 0


def _parameter(item: str) -> tuple[str, str]:
    name, separator, value = item.partition("=")
    if not separator or not name:
        raise SystemExit(f"error: --parameters {item!r}: expected Name=value or Stack:Name=value")
    return name, value


def cmd_invoke(args: argparse.Namespace) -> int:
    state = _state(Path(args.state_dir))
    event = json.loads(Path(args.event).read_text()) if args.event else {}
    status, answer = _post(f"{state['control']}/invoke?function={args.function}", event)
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 and answer.get("ok") else 1


def cmd_fire_schedule(args: argparse.Namespace) -> int:
    state = _state(Path(args.state_dir))
    status, answer = _post(f"{state['control']}/fire-schedule?rule={args.rule}", {})
    print(json.dumps(answer, indent=2))
    return 0 if status == 200 else 1


def cmd_token(args: argparse.Namespace) -> int:
    """Only the ID token on stdout (TOKEN=$(...) works); what it is and how to use it on stderr."""
    state = _state(Path(args.state_dir))
    groups = list(dict.fromkeys([*(["admins"] if args.admin else []), *args.group]))
    body = {"username": args.username, "groups": groups, "password": args.password, "pool": args.pool}
    status, answer = _post(f"{state['control']}/user", body)
    if status != 200:
        print(f"error: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    expires = datetime.now(UTC) + timedelta(seconds=int(answer["expiresIn"]))
    api = next(iter(state.get("api", {}).values()), "http://localhost:3000/<stage>/")
    print(answer["idToken"])
    print(
        f"user {answer['username']} (sub {answer['sub']}) in pool {answer['pool']}, "
        f"groups: {', '.join(answer['groups']) or 'none'}, password: {answer['password']}\n"
        f"ID token expires at {expires:%H:%M:%S} UTC ({answer['expiresIn']} s); use it as:\n"
        f'  curl -H "Authorization: $TOKEN" {api}...',
        file=sys.stderr,
    )
    return 0


def _explanations(app: App, specs: list[Any]) -> dict[tuple[str, str, str], str]:
    """(function, action, resource) grants that a recorded run cannot be expected to use, and why."""
    why: dict[tuple[str, str, str], str] = {}
    by_name = {s.name: s for s in specs}
    for stack, _lid, resource in app.all_resources("AWS::Lambda::EventSourceMapping"):
        props = app.resolve(stack, resource.get("Properties", {}))
        spec = by_name.get(str(props.get("FunctionName")))
        if spec and ":sqs:" in str(props.get("EventSourceArn")):
            for action in ("sqs:ChangeMessageVisibility", "sqs:GetQueueUrl"):
                why[(spec.display, action, str(props["EventSourceArn"]))] = (
                    "part of CDK's grantConsumeMessages for the SQS event source; Lambda's poller needs only "
                    "Receive/Delete/GetQueueAttributes"
                )
    for spec in specs:
        for arn in (spec.dead_letter_arn, spec.on_failure_arn):
            if arn:
                why[(spec.display, "sqs:SendMessage", arn)] = (
                    "used by Lambda only when async invocations fail"
                )
    return why


def grant_report(
    app: App, recording: list[dict[str, Any]]
) -> dict[str, dict[str, list[tuple[str, str, str]]]]:
    """Per function: {"unexplained": [(action, resource, "")], "explained": [(action, resource, why)]}."""
    with tempfile.TemporaryDirectory() as inline:  # inline functions' code is written out, not read
        specs = model.function_specs(app, inline_dir=Path(inline))
    policies, _warnings = model.role_policies(app)
    granted = {s.display: policies[s.role_arn].granted() if s.role_arn in policies else [] for s in specs}
    explanations = _explanations(app, specs)
    report: dict[str, dict[str, list[tuple[str, str, str]]]] = {}
    for function, pairs in unused_grants(granted, recording).items():
        entry: dict[str, list[tuple[str, str, str]]] = {"unexplained": [], "explained": []}
        for action, resource in pairs:
            why = next(
                (w for prefix, w in EXPLAINED_PREFIXES.items() if action.lower().startswith(prefix)), ""
            )
            why = why or explanations.get((function, action, resource), "")
            entry["explained" if why else "unexplained"].append((action, resource, why))
        report[function] = entry
    return report


def cmd_unused_grants(args: argparse.Namespace) -> int:
    app = App.load(args.cdk_out)
    recording = [json.loads(line) for line in Path(args.recording).read_text().splitlines() if line.strip()]
    report = grant_report(app, recording)
    unexplained = 0
    for function, entry in sorted(report.items()):
        print(f"{function}:")
        for action, resource, _ in entry["unexplained"]:
            print(f"  UNUSED  {action} on {resource}")
            unexplained += 1
        for action, resource, why in entry["explained"]:
            print(f"  unused  {action} on {resource}  (explained: {why})")
        if not entry["unexplained"] and not entry["explained"]:
            print("  every granted action was used")
    print(
        f"{unexplained} granted action(s) never used and unexplained"
        if unexplained
        else "nothing unexplained"
    )
    return 1 if unexplained and args.strict else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="local-runtime", description=__doc__)
    parser.add_argument("--state-dir", default=".local-runtime", help="logs, recording and the running state")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the synthesized app locally")
    up.add_argument(
        "--cdk-out",
        action="append",
        help="a cloud assembly (default cdk.out); repeat it to deploy several into one local account, "
        "e.g. two stages",
    )
    up.add_argument("--stage", default=None, help="the stage cdk.out was synthesized for (informational)")
    up.add_argument("--port", type=int, default=3000, help="API port (0 = any free port)")
    up.add_argument("--aws-port", type=int, default=4566, help="AWS endpoint (IAM gateway) port")
    up.add_argument("--region", default="us-east-1")
    up.add_argument(
        "--skip-unknown", action="store_true", help="skip unsupported resource types instead of failing"
    )
    up.add_argument(
        "--apigw-cloudwatch-role",
        action="store_true",
        help="the account already has API Gateway's CloudWatch Logs role (no stack here sets it)",
    )
    up.add_argument(
        "--watch",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="hot reload: function code on save; other sources re-synthesized with --synth-command",
    )
    up.add_argument(
        "--synth-command",
        help='how to synthesize the app, e.g. "cdk --context stage=dev synth --quiet" (--output is added)',
    )
    up.add_argument(
        "--background-nice",
        type=int,
        default=priority.UP_BACKGROUND_NICE,
        metavar="N",
        help="run what event sources start (pollers, async invocations, their functions and AWS calls) at "
        "this nice value, so the API answers as fast while a pipeline works; 0 = all alike",
    )
    up.add_argument(
        "--openapi", help="the API's OpenAPI document for Swagger UI (default: from the template)"
    )
    up.add_argument(
        "--parameters",
        action="append",
        default=[],
        metavar="[STACK:]NAME=VALUE",
        help="a template parameter's value, as `cdk deploy --parameters` (repeatable)",
    )
    up.set_defaults(run=cmd_up)

    invoke = commands.add_parser("invoke", help="invoke a function of the running runtime")
    invoke.add_argument("function", help="construct name (UsersApi), logical id or function name")
    invoke.add_argument("--event", help="JSON event file")
    invoke.set_defaults(run=cmd_invoke)

    fire = commands.add_parser("fire-schedule", help="fire a schedule rule now")
    fire.add_argument("rule", help="construct name, logical id or rule name")
    fire.set_defaults(run=cmd_fire_schedule)

    token = commands.add_parser(
        "token", help="create (or reuse) a user of the running runtime's user pool; print its ID token"
    )
    token.add_argument("username", help="the sign-in name, e.g. alice@example.com")
    token.add_argument("--admin", action="store_true", help="shorthand for --group admins")
    token.add_argument("--group", action="append", default=[], help="add the user to this group (repeatable)")
    token.add_argument(
        "--password", help="set this password (default: the one given before, else a random one)"
    )
    token.add_argument("--pool", help="the user pool (construct name, logical id, name or id) if several")
    token.set_defaults(run=cmd_token)

    messages = commands.add_parser("messages", help="peek at a queue's messages (left on the queue)")
    messages.add_argument("queue", help="queue name")
    messages.add_argument("--limit", type=int, default=10)
    messages.set_defaults(run=cmd_messages)

    delete = commands.add_parser("delete-message", help="delete one message from a queue (e.g. a DLQ)")
    delete.add_argument("queue", help="queue name")
    delete.add_argument("message_id", help="the MessageId `messages` shows")
    delete.set_defaults(run=cmd_delete_message)

    redrive = commands.add_parser("redrive", help="move a DLQ's messages back to its source queue")
    redrive.add_argument("dlq", help="the dead-letter queue's name")
    redrive.add_argument("--to", help="the queue to move to (needed when several queues use this DLQ)")
    redrive.set_defaults(run=cmd_redrive)

    items = commands.add_parser("items", help="a page of a table's items")
    items.add_argument("table", help="table name")
    items.add_argument("--limit", type=int, default=25)
    items.add_argument("--next-token", help="the nextToken of the previous page")
    items.set_defaults(run=cmd_items)

    objects = commands.add_parser("objects", help="a page of a bucket's objects")
    objects.add_argument("bucket", help="bucket name")
    objects.add_argument("--limit", type=int, default=50)
    objects.add_argument("--next-token", help="the nextToken of the previous page")
    objects.set_defaults(run=cmd_objects)

    invocations = commands.add_parser("invocations", help="the last invocations, with their log lines")
    invocations.set_defaults(run=cmd_invocations)

    denied = commands.add_parser("denied", help="the IAM calls the gateway denied")
    denied.set_defaults(run=cmd_denied)

    unused = commands.add_parser("unused-grants", help="granted actions never used in a recorded run")
    unused.add_argument("recording", help=".local-runtime/recording.jsonl")
    unused.add_argument("--cdk-out", default="cdk.out")
    unused.add_argument("--strict", action="store_true", help="exit 1 when something is unexplained")
    unused.set_defaults(run=cmd_unused_grants)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
