"""The local runtime: moto + IAM gateway + workers + event sources, built from a cloud assembly."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config

from local_runtime import deploy_rules, model, provision
from local_runtime.api import ApiServer, rest_apis
from local_runtime.async_invoke import DEFAULT_RETRY_DELAYS, AsyncInvoker
from local_runtime.authorizer import Verifier
from local_runtime.cognito import UserError, Users, create_user_pools
from local_runtime.deploy_rules import AccountSettings
from local_runtime.eventbridge import Deliverer, PatternRules, Scheduler, rules_from
from local_runtime.gateway import Gateway, Identity
from local_runtime.iam import Policy, Recorder
from local_runtime.s3_notifications import Notifier, notification_targets
from local_runtime.sqs_source import Mapping, SqsPoller
from local_runtime.templates import App, Names, TemplateError
from local_runtime.workers import BOOTSTRAP, FunctionSpec, Invocation, Pool, die_with_parent

log = logging.getLogger("local_runtime")
ADMIN_KEY = "LOCALRUNTIMEADMIN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Options:
    # One cloud assembly, or several deployed into the one local account (e.g. two stages).
    assembly_dir: Path | Sequence[Path]
    state_dir: Path = Path(".local-runtime")
    region: str = "us-east-1"
    api_port: int = 0
    gateway_port: int = 0
    control_port: int = 0
    skip_unknown: bool = False
    async_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    poll_wait_s: float = 1.0
    clock: bool = True
    echo: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    policy_override: Callable[[str, Policy], Policy] | None = None  # tests: edit a role's policy
    account: AccountSettings = field(default_factory=AccountSettings)  # what the account already has


class Runtime:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.pools: dict[str, Pool] = {}  # by function ARN
        self.specs: list[FunctionSpec] = []
        self.policies: dict[str, Policy] = {}
        self.api_servers: list[ApiServer] = []
        self.pollers: list[SqsPoller] = []
        self.pattern_rules: PatternRules | None = None
        self.scheduler: Scheduler | None = None
        self.gateway: Gateway | None = None
        self.control: ThreadingHTTPServer | None = None
        self.recorder: Recorder | None = None
        self.asynchronous: AsyncInvoker | None = None
        self.users = Users([], lambda: self.client("cognito-idp"))
        self.verifier = Verifier(self._jwks, self._pool_clients)
        self._moto: Any = None
        self._local = threading.local()
        self.startup_s = 0.0
        self.summary: dict[str, Any] = {}

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (the Lambda service's own calls; not IAM-checked)."""
        cache = self._local.__dict__.setdefault("clients", {})
        if service not in cache:
            cache[service] = boto3.session.Session().client(
                service,
                endpoint_url=f"http://localhost:{self.moto_port}",
                region_name=self.options.region,
                aws_access_key_id=ADMIN_KEY,
                aws_secret_access_key="local",  # noqa: S106 (moto accepts anything)
                config=Config(retries={"max_attempts": 2}),
            )
        return cache[service]

    # ------------------------------------------------------------------ start
    def start(self) -> Runtime:
        """Provision and run the assembly; on any failure (e.g. a deploy rule) stop what already runs."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> Runtime:
        started = time.perf_counter()
        opts = self.options
        state_dir = opts.state_dir
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.moto_port = free_port()
        self._moto = start_moto(self.moto_port, state_dir / "moto.log")
        self.recorder = Recorder(state_dir / "recording.jsonl")
        self.gateway = Gateway(
            self.moto_port, opts.region, "123456789012", self.recorder, port=opts.gateway_port
        )
        names = Names(region=opts.region, endpoint_url=self.gateway.url)
        app = App.load(opts.assembly_dir, names)
        self.app = app
        inventory = model.inventory(app)
        if inventory.unknown and not opts.skip_unknown:
            raise model.UnsupportedResourcesError(inventory.unknown)
        deploy_notes = deploy_rules.check(app, opts.account)
        opts.echo("Resources in the assembly:")
        for line in inventory.lines():
            opts.echo(line)
        opts.echo("Deploy rules AWS enforces, checked:")
        for note in deploy_notes:
            opts.echo(f"  {note}")

        created = provision.create_resources(app, self.client)
        # Before anything else resolves the template: binds moto's pool/client ids into the app.
        pools, pool_lines = create_user_pools(app, self.client("cognito-idp"))
        created += pool_lines
        self.users.pools = pools
        self.specs = model.function_specs(app)
        self.policies, warnings = model.role_policies(app)
        if opts.policy_override:
            self.policies = {arn: opts.policy_override(arn, p) for arn, p in self.policies.items()}
        for warning in warnings:
            opts.echo(f"  note: {warning}")
        self._start_functions()
        self.gateway.start()

        self.asynchronous = AsyncInvoker(
            self.pools, lambda: self.client("sqs"), self.service_call, opts.async_retry_delays
        )
        targets, s3_warnings = notification_targets(app)
        for warning in s3_warnings:
            opts.echo(f"  note: {warning}")
        self.gateway.s3_hooks.append(
            Notifier(targets, opts.region, self.invoke_async, lambda: self.client("sqs"))
        )
        self._start_sqs_mappings(app)
        rules = rules_from(app)
        deliverer = Deliverer(set(self.pools), self.invoke_async, lambda: self.client("sqs"))
        self.pattern_rules = PatternRules(
            rules,
            lambda: self.client("events"),
            lambda: self.client("sqs"),
            deliverer,
            "123456789012",
            opts.region,
            opts.poll_wait_s,
        )
        self.pattern_rules.start()
        self.scheduler = Scheduler(rules, deliverer, "123456789012", opts.region)
        if opts.clock:
            self.scheduler.start()
        for index, api in enumerate(rest_apis(app)):
            port = opts.api_port if index == 0 and opts.api_port else 0
            server = ApiServer(api, self.invoke, "123456789012", port=port, authorize=self.verifier.authorize)
            server.start()
            self.api_servers.append(server)
        self._start_control()
        self.startup_s = time.perf_counter() - started
        self.summary = {
            "pid": os.getpid(),
            "api": {s.api.name: s.base_url for s in self.api_servers},
            "aws_endpoint": self.gateway.url,
            "control": f"http://127.0.0.1:{self.control_port}",
            "region": opts.region,
            "functions": {s.display: s.name for s in self.specs},
            "buckets": [app.physical_name(st, lid) for st, lid, _ in app.all_resources("AWS::S3::Bucket")],
            "queues": [app.physical_name(st, lid) for st, lid, _ in app.all_resources("AWS::SQS::Queue")],
            "tables": [
                app.physical_name(st, lid) for st, lid, _ in app.all_resources("AWS::DynamoDB::Table")
            ],
            "buses": [
                app.physical_name(st, lid) for st, lid, _ in app.all_resources("AWS::Events::EventBus")
            ],
            "schedules": {r.names[0] if r.names else r.name: r.schedule for r in self.scheduler.rules},
            "user_pools": {_pool_key(pool, pools): pool.summary() for pool in pools},
            "startup_s": round(self.startup_s, 2),
        }
        # Whole or not at all: the CLI and other processes poll for this file and read it at once.
        staged = state_dir / "state.json.partial"
        staged.write_text(json.dumps(self.summary, indent=2))
        staged.replace(state_dir / "state.json")
        self._print_banner(created)
        return self

    def _start_functions(self) -> None:
        assert self.gateway is not None
        opts = self.options
        skipped: dict[tuple[str, str], list[str]] = {}
        for spec in self.specs:
            policy = self.policies.get(spec.role_arn, Policy())
            role_name = spec.role_arn.rsplit("/", 1)[-1]
            principal = f"arn:aws:sts::123456789012:assumed-role/{role_name}/{spec.name}"
            self.gateway.identities[spec.access_key] = Identity(spec.display, principal, policy)
            for layer, problem in spec.skipped_layers:
                skipped.setdefault((layer.parent.name, problem), []).append(spec.display)
            self.pools[spec.arn] = Pool(
                spec, self._lambda_env(spec), opts.state_dir / "logs", on_invocation=self._log_invocation
            )
        for (layer, problem), functions in skipped.items():
            opts.echo(
                f"  note: layer {layer} is not put on sys.path of {', '.join(functions)}: {problem}; "
                "its packages come from the runtime's own environment"
            )

    def _aws_config_file(self) -> Path:
        """SDK settings for workers: path-style S3 URLs, because `<bucket>.localhost` does not resolve
        everywhere (glibc), so presigned URLs a function hands out must address the bucket in the path."""
        path = self.options.state_dir / "aws-config"
        if not path.exists():
            path.write_text("[default]\ns3 =\n    addressing_style = path\n")
        return path

    def _lambda_env(self, spec: FunctionSpec) -> dict[str, str]:
        assert self.gateway is not None
        region = self.options.region
        return {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ACCESS_KEY_ID": spec.access_key,
            # The gateway verifies signatures with the credentials it issued for the function.
            "AWS_SECRET_ACCESS_KEY": self.gateway.identities[spec.access_key].secret_key,
            "AWS_SESSION_TOKEN": self.gateway.identities[spec.access_key].session_token,
            "AWS_ENDPOINT_URL": self.gateway.url,
            "AWS_CONFIG_FILE": str(self._aws_config_file()),
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": spec.log_group,
            "AWS_LAMBDA_LOG_FORMAT": spec.log_format,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "_HANDLER": spec.handler,
            # Lambda tells the code its application log level (Powertools' Logger follows it).
            **({"AWS_LAMBDA_LOG_LEVEL": spec.application_log_level} if spec.application_log_level else {}),
        }

    def _start_sqs_mappings(self, app: App) -> None:
        for stack, logical_id, resource in app.all_resources("AWS::Lambda::EventSourceMapping"):
            props = app.resolve(stack, resource.get("Properties", {}))
            source = str(props.get("EventSourceArn", ""))
            if ":sqs:" not in source:
                self.options.echo(f"  note: {logical_id}: event source {source} is not emulated (SQS only)")
                continue
            function = str(props["FunctionName"])
            spec = next((s for s in self.specs if function in (s.name, s.arn)), None)
            if spec is None:
                raise TemplateError(f"{logical_id}: event source mapping targets unknown function {function}")
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                if not self.service_call(spec, action, source):
                    raise TemplateError(
                        f"{logical_id}: {spec.display}'s role does not allow {action} on {source}; "
                        "Lambda would refuse this event source mapping"
                    )
            mapping = Mapping(
                logical_id=logical_id,
                queue_arn=source,
                function_arn=spec.arn,
                batch_size=int(props.get("BatchSize", 10)),
                window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                enabled=str(props.get("Enabled", True)).lower() != "false",
                max_concurrency=min(int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)), 5),
            )
            if not mapping.enabled:
                continue
            poller = SqsPoller(
                mapping,
                self.pools[spec.arn],
                lambda: self.client("sqs"),
                self.options.region,
                wait_s=self.options.poll_wait_s,
            )
            poller.start()
            self.pollers.append(poller)

    # ------------------------------------------------------------------ invocation
    def service_call(self, spec: FunctionSpec, action: str, resource: str) -> bool:
        """A call Lambda makes with the function's role (event source polling, DLQ delivery)."""
        allowed = self.policies.get(spec.role_arn, Policy()).allows(action, resource)
        if self.recorder:
            self.recorder.record(spec.display, action, resource, allowed, via="lambda-service")
        return allowed

    def invoke(self, function_arn: str, event: Any, trigger: str = "invoke") -> Invocation:
        return self.pools[function_arn].invoke(event, trigger)

    def invoke_async(self, function_arn: str, event: Any, trigger: str) -> Any:
        assert self.asynchronous is not None
        return self.asynchronous.invoke(function_arn, event, trigger)

    def create_user(
        self,
        username: str,
        *,
        groups: Sequence[str] = (),
        password: str | None = None,
        pool: str | None = None,
    ) -> dict[str, Any]:
        """A confirmed user (created or reused) in the app's user pool, with its groups and fresh tokens:
        {"username", "sub", "password", "groups", "idToken", "accessToken", "expiresIn", "pool", "poolId"}.
        `pool` (construct name, logical id, pool name or id) is needed only when the app has several.
        Raises cognito.UserError (a ValueError) naming the pools or groups that exist."""
        return self.users.create_user(username, groups=groups, password=password, pool=pool)

    def _jwks(self, pool_id: str) -> dict[str, Any]:
        url = f"http://localhost:{self.moto_port}/{pool_id}/.well-known/jwks.json"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())

    def _pool_clients(self, pool_id: str) -> set[str]:
        pages = self.client("cognito-idp").get_paginator("list_user_pool_clients")
        return {c["ClientId"] for page in pages.paginate(UserPoolId=pool_id) for c in page["UserPoolClients"]}

    def find_schedule(self, name: str) -> Any:
        """A schedule rule by its own name, or the one schedule that targets the function of that name."""
        assert self.scheduler is not None
        try:
            return self.scheduler.find(name)
        except LookupError:
            try:
                arn = self.find_function(name).arn
            except LookupError:
                arn = None
            targeting = [
                r for r in self.scheduler.rules if any(t.arn.startswith(arn or "-") for t in r.targets)
            ]
            if len(targeting) == 1:
                return targeting[0]
            raise

    def find_function(self, name: str) -> FunctionSpec:
        wanted = name.lower()
        for spec in self.specs:
            if wanted in {n.lower() for n in [spec.name, spec.arn, *spec.construct_names]}:
                return spec
        known = ", ".join(s.display for s in self.specs)
        raise LookupError(f"no function called {name!r} (functions: {known})")

    def _log_invocation(self, spec: FunctionSpec, trigger: str, invocation: Invocation) -> None:
        if invocation.ok:
            result = invocation.result
            status = (
                str(result["statusCode"]) if isinstance(result, dict) and "statusCode" in result else "ok"
            )
            if isinstance(result, dict) and result.get("batchItemFailures"):
                status = f"ok ({len(result['batchItemFailures'])} item failures)"
        else:
            message = str((invocation.error or {}).get("errorMessage", ""))[:120]
            status = f"ERROR {invocation.error_type}: {message}"
        temperature = (
            f"cold (init {invocation.init_ms:.0f} ms)"
            if invocation.init_ms is not None
            else ("cold" if invocation.cold else "warm")
        )
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        duration = f"{invocation.duration_ms:8.1f} ms"
        self.options.echo(f"{stamp} {spec.display:<18} {trigger:<40} {duration}  {temperature:<18} {status}")

    # ------------------------------------------------------------------ control API (invoke, fire-schedule)
    def _start_control(self) -> None:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                try:
                    if parts.path == "/invoke":
                        spec = runtime.find_function(query["function"])
                        invocation = runtime.invoke(spec.arn, body, "invoke (cli)")
                        answer = {
                            "function": spec.display,
                            "ok": invocation.ok,
                            "result": invocation.result,
                            "error": invocation.error,
                            "durationMs": round(invocation.duration_ms, 1),
                            "cold": invocation.cold,
                            "initMs": invocation.init_ms,
                        }
                    elif parts.path == "/user":
                        if not body.get("username"):
                            raise UserError("the body needs a username")
                        answer = runtime.create_user(
                            str(body["username"]),
                            groups=[str(g) for g in body.get("groups") or []],
                            password=body.get("password"),
                            pool=body.get("pool"),
                        )
                    elif parts.path == "/fire-schedule":
                        assert runtime.scheduler is not None
                        rule = runtime.find_schedule(query["rule"])
                        answer = {"rule": rule.name, "targets": runtime.scheduler.fire(rule)}
                    else:
                        raise LookupError(f"unknown control path {parts.path}")
                    status = 200
                except LookupError as exc:
                    status, answer = 404, {"error": str(exc).strip("'\"")}
                except UserError as exc:
                    status, answer = 400, {"error": str(exc)}
                data = json.dumps(answer, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.control = ThreadingHTTPServer(("127.0.0.1", self.options.control_port), Handler)
        self.control.daemon_threads = True
        self.control_port = self.control.server_address[1]
        threading.Thread(target=self.control.serve_forever, name="control", daemon=True).start()

    def _print_banner(self, created: list[str]) -> None:
        echo = self.options.echo
        echo("Provisioned in the embedded moto:")
        for line in created:
            echo(f"  {line}")
        echo("Functions (worker processes):")
        for spec in self.specs:
            echo(f"  {spec.display:<18} {spec.name}  timeout {spec.timeout_s:g}s  memory {spec.memory_mb} MB")
        echo("")
        for server in self.api_servers:
            echo(f"API {server.api.name}: {server.base_url}")
        echo("  (Swagger UI: not served; the API exposes no docs route)")
        assert self.gateway is not None
        echo(f"AWS endpoint (S3 host must be localhost): {self.gateway.url}  region {self.options.region}")
        echo(f"  e.g. aws --endpoint-url {self.gateway.url} s3 ls   (any credentials)")
        if self.summary["buckets"]:
            echo(f"Buckets: {', '.join(self.summary['buckets'])}")
        if self.summary["queues"]:
            echo(f"Queues: {', '.join(self.summary['queues'])}")
        for name, pool in self.summary["user_pools"].items():
            groups = f" groups {', '.join(pool['groups'])}" if pool["groups"] else ""
            echo(f"User pool {name}: {pool['id']}{groups}")
            echo("  ID token for the API: TOKEN=$(python -m local_runtime token alice@example.com [--admin])")
        if self.summary["schedules"]:
            echo(f"Schedules: {', '.join(f'{k} {v}' for k, v in self.summary['schedules'].items())}")
        echo(f"Function logs: {self.options.state_dir / 'logs'}/<function>.log")
        echo(f"Started in {self.startup_s:.2f}s. Stop with Ctrl-C.")

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop in dependency order, so nothing calls a part that has already stopped: first what brings
        work in (API, control port, schedules, queue pollers, bus rules), then what does it (async
        invocations, workers), then the AWS endpoint and moto."""
        for server in self.api_servers:
            server.stop()
        if self.control:
            self.control.shutdown()
            self.control.server_close()
        if self.scheduler:
            self.scheduler.stop()
        sources: list[SqsPoller | PatternRules] = [*self.pollers]
        if self.pattern_rules:
            sources.append(self.pattern_rules)
        for source in sources:
            source._stop.set()
        if self.asynchronous:
            self.asynchronous.stopping()
        for pool in self.pools.values():
            pool.stop()  # in-flight invocations end; their sources see a failed invocation
        for source in sources:
            source.stop()  # joins: each finishes what it holds (redelivery, DLQ) while moto still runs
        if self.asynchronous:
            self.asynchronous.stop()
        if self.gateway:
            self.gateway.stop()
        if self._moto:
            self._moto.terminate()
            try:
                self._moto.wait(5)
            except subprocess.TimeoutExpired:
                self._moto.kill()
                self._moto.wait()
            self._moto = None
        if self.recorder:
            self.recorder.close()
            self.recorder = None
        state = self.options.state_dir / "state.json"
        if state.exists():
            state.unlink()


def _pool_key(pool: Any, pools: list[Any]) -> str:
    """A pool's construct name, or its pool name when several assemblies (stages) share the construct name."""
    shared = sum(other.display == pool.display for other in pools) > 1
    return str(pool.pool_name if shared else pool.display)


def start_moto(
    port: int, log_path: Path, timeout_s: float = 30.0, server: str = "local_runtime.moto_server"
) -> subprocess.Popen[bytes]:
    """moto's server in its own process: its state is this runtime's alone, and it dies with the runtime.

    `server`: local_runtime.moto_server (moto with its hot spots fixed) or moto.server (as released)."""
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed arguments)
            [sys.executable, "-m", server, "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            # Not in the terminal's process group: Ctrl-C stops the runtime, which stops moto last.
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"moto server did not listen on port {port} within {timeout_s}s")
