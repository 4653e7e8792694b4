"""The local runtime: moto + IAM gateway + workers + event sources, built from a cloud assembly."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
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
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local_runtime import deploy_rules, model, moto_forks, priority, provision, s3_cors, tls
from local_runtime.api import ApiServer, RestApi, rest_apis
from local_runtime.async_invoke import DEFAULT_RETRY_DELAYS, AsyncInvoker
from local_runtime.authorizer import Verifier
from local_runtime.cognito import UserError, Users, create_user_pools
from local_runtime.console import PAGE, Console, ConsoleError, status_of
from local_runtime.deploy_rules import AccountSettings
from local_runtime.dynamodb_keys import PartitionKeys
from local_runtime.eventbridge import Deliverer, PatternRules, Scheduler, rules_from
from local_runtime.firehose import Firehose, delivery_streams
from local_runtime.gateway import Gateway, Identity
from local_runtime.hot_reload import Changes, CodeSources, Synth, Watcher, clear_bytecode
from local_runtime.http_api import HttpApi, HttpApiServer, function_urls, http_apis
from local_runtime.http_server import SHUTDOWN_POLL_S
from local_runtime.iam import Policy, Recorder, trust_allows
from local_runtime.iam_auth import IamAuthorizer
from local_runtime.kms import EncryptionKeys
from local_runtime.lambda_api import invoke_api
from local_runtime.permissions import FunctionPolicies
from local_runtime.resource_policies import Caller, ResourcePolicies
from local_runtime.s3_notifications import Notifier, notification_targets
from local_runtime.schedules import ScheduleRunner, schedules_from
from local_runtime.service_integration import ServiceCalls
from local_runtime.sns import SnsDelivery, subscriptions_from
from local_runtime.sqs_source import Mapping, SqsPoller
from local_runtime.state_machines import let_state_machines_run, state_machine_roles
from local_runtime.stream_source import StreamMapping, StreamPoller
from local_runtime.swagger import Swagger, find_dist
from local_runtime.tags import Tags
from local_runtime.templates import App, Names, TemplateError
from local_runtime.websocket_api import WebSocketApi, WebSocketServer, websocket_apis
from local_runtime.workers import BOOTSTRAP, FunctionPools, FunctionSpec, Invocation, Pool, die_with_parent

log = logging.getLogger("local_runtime")
ADMIN_KEY = "LOCALRUNTIMEADMIN"
# Where function workers cache bytecode, if not in <state dir>/bytecode: runtimes that run the same files
# can share one cache, so each does not compile the dependency layer again (the test suite shares one).
BYTECODE_DIR_VARIABLE = "LOCAL_RUNTIME_BYTECODE_DIR"


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
    # Hot reload: functions run from their source folders under app_root; other sources re-synthesize
    # with synth_command (`--output DIR` is appended). Off unless asked for.
    watch: bool = False
    app_root: Path | None = None
    synth_command: Sequence[str] = ()
    openapi: Path | None = None  # the API's OpenAPI document for Swagger UI (else built from the template)
    parameters: dict[str, str] = field(default_factory=dict)  # template parameters: Name or Stack:Name
    # API stages' throttling (REST MethodSettings, HTTP API route settings), as in AWS; off only to
    # measure the runtime itself beyond a stage's limits (the benchmarks).
    stage_throttling: bool = True
    # The nice value of work an event source starts (priority.py); 0 = all alike. `local-runtime up`: 10.
    background_nice: int = 0


class Runtime:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.pools = FunctionPools()  # by function ARN (an alias's or version's too)
        self.specs: list[FunctionSpec] = []
        self.policies: dict[str, Policy] = {}
        self.api_servers: list[ApiServer | HttpApiServer] = []
        self.websocket_servers: list[WebSocketServer] = []
        self._websocket_apis: list[WebSocketApi] = []
        self._certificate: tuple[Path, Path] | None = None  # for local HTTPS endpoints (tls.py)
        self.pollers: list[SqsPoller | StreamPoller] = []
        self.pattern_rules: PatternRules | None = None
        self.sns: SnsDelivery | None = None
        self.firehose: Firehose | None = None
        self.scheduler: Scheduler | None = None
        self.schedule_runner: ScheduleRunner | None = None  # EventBridge Scheduler's schedules
        self.gateway: Gateway | None = None
        self.service_calls: ServiceCalls | None = None  # API Gateway's AWS service integrations
        self.control: ThreadingHTTPServer | None = None
        self.recorder: Recorder | None = None
        self.asynchronous: AsyncInvoker | None = None
        self.users = Users([], lambda: self.client("cognito-idp"))
        self.verifier = Verifier(self._jwks, self._pool_clients)
        self._moto: Any = None
        self._local = threading.local()
        self.startup_s = 0.0
        # Where the workers cache bytecode: not in the code's folders, which `cdk deploy` zips as they are
        # in cdk.out (and Lambda's code folders are read-only). The cache mirrors each source's absolute
        # path and is checked against the source, as __pycache__ is: runtimes can share one.
        shared = os.environ.get(BYTECODE_DIR_VARIABLE)
        self.bytecode_dir = Path(shared).resolve() if shared else (options.state_dir / "bytecode").resolve()
        self.summary: dict[str, Any] = {}
        self.reloader: CodeSources | None = None
        self.watcher: Watcher | None = None
        self._synth: Synth | None = None
        self._redeploy = threading.Lock()  # one reload applies at a time
        self._infra_pending = threading.Event()
        self._notes: set[str] = set()
        self.function_policies = FunctionPolicies([])
        root = options.app_root or _app_root(options.assembly_dir)
        self.app_root = root
        self.console = Console(self)
        self.swagger = Swagger(find_dist(*(p for p in (root, Path.cwd()) if p)), options.openapi)

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A boto3 client straight to moto (the Lambda service's own calls; not IAM-checked)."""
        cache = self._local.__dict__.setdefault("clients", {})
        if service not in cache:
            cache[service] = _new_client(
                service,
                endpoint_url=f"http://localhost:{self.moto_port}",
                region_name=self.options.region,
                aws_access_key_id=ADMIN_KEY,
                aws_secret_access_key="local",  # noqa: S106 (moto accepts anything)
                config=Config(retries={"max_attempts": 2}),
            )
            nice = priority.background_nice()
            if nice:  # a poller's receives and deletes are background work at moto too
                priority.mark_background(cache[service], nice)
        return cache[service]

    # ------------------------------------------------------------------ start
    def start(self) -> Runtime:
        """Provision and run the assembly; on any failure (e.g. a deploy rule) stop what already runs."""
        if self.options.background_nice:
            priority.share_the_interpreter()
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
        self.recorder.listeners.append(self.console.on_iam_call)
        self.gateway = Gateway(
            self.moto_port, opts.region, "123456789012", self.recorder, port=opts.gateway_port
        )
        self.gateway.bucket_cors = lambda bucket: s3_cors.rules_of(self.client("s3"), bucket)
        self.gateway.background_nice = opts.background_nice
        self.gateway.start()
        self.service_calls = ServiceCalls(self.gateway, "123456789012", opts.region)
        self.asynchronous = AsyncInvoker(
            self.pools, self.client, self.service_call, opts.async_retry_delays, opts.background_nice
        )
        self.gateway.invoke_hook = lambda arn, headers, body: invoke_api(
            self.pools, self.invoke_async, arn, headers, body
        )
        if opts.watch and self.app_root is not None:
            self.reloader = CodeSources(self.app_root, skip=[state_dir, *self._assembly_dirs()])
        app = self._load(opts.assembly_dir, echo=opts.echo)
        created = self._deploy(app)
        self._start_control()
        self.startup_s = time.perf_counter() - started
        self._write_state()
        self._print_banner(created)
        if self.reloader is not None:
            self._start_watch()
        return self

    def _load(self, assembly_dir: Path | Sequence[Path], echo: Callable[[str], None]) -> App:
        """Read and check an assembly (resources the runtime knows, deploy rules) before running any of it."""
        assert self.gateway is not None
        names = Names(region=self.options.region, endpoint_url=self.gateway.url)
        app = App.load(assembly_dir, names, parameters=self.options.parameters)
        inventory = model.inventory(app)
        if inventory.unknown and not self.options.skip_unknown:
            raise model.UnsupportedResourcesError(inventory.unknown)
        deploy_notes = deploy_rules.check(app, self.options.account)
        echo("Resources in the assembly:")
        for line in inventory.lines():
            echo(line)
        echo("Deploy rules AWS enforces, checked:")
        for note in deploy_notes:
            echo(f"  {note}")
        return app

    def _deploy(self, app: App) -> list[str]:
        """Run `app`: its data resources (created or, on a redeploy, updated in place with their data),
        functions, event sources, schedules and APIs. On a redeploy the previous app's parts are stopped
        only once the new ones are ready; its in-flight invocations finish on their workers."""
        opts = self.options
        previous = getattr(self, "app", None)
        created = provision.create_resources(app, self.client)
        # Before anything else resolves the template: binds moto's pool/client ids into the app.
        pools, pool_lines = create_user_pools(app, self.client("cognito-idp"))
        created += pool_lines
        specs = model.function_specs(app, inline_dir=opts.state_dir / "inline")
        if self.reloader is not None:
            specs = self.reloader.run_from_sources(specs)
        policies, warnings = model.role_policies(app)
        if opts.policy_override:
            policies = {arn: opts.policy_override(arn, p) for arn, p in policies.items()}
        for warning in warnings:
            self._note(warning)
        new_policies = FunctionPolicies.from_app(app)
        resource_policies = ResourcePolicies.from_app(app)
        keys = EncryptionKeys.from_app(app)
        _check_notification_permissions(app, new_policies, resource_policies, keys)
        if keys.summary():
            self._note(str(keys.summary()))
        self._note(
            f"{len(new_policies.permissions)} function permission(s) (AWS::Lambda::Permission): checked on "
            "each API and rule/schedule invocation, and on S3 notifications at start-up"
        )
        self.specs, self.policies = specs, policies
        assert self.service_calls is not None
        trust = model.role_trust_policies(app)
        self.service_calls.update(policies, trust)
        machine_roles = state_machine_roles(app, trust)
        self._websocket_apis = websocket_apis(app)
        if self._websocket_apis and self._certificate is None:
            self._certificate = tls.local_certificate(opts.state_dir / "tls")
        new_pools = self._start_functions(specs, policies)
        if machine_roles:
            assert self.gateway is not None
            self._note(let_state_machines_run(self.gateway, self.moto_port, machine_roles, policies))
            created += provision.create_state_machines(app, self.client("stepfunctions"))

        # Stop what brings work to the previous app; then switch every path to the new one.
        old_pollers, old_rules, old_sns = self.pollers, self.pattern_rules, self.sns
        old_sources = [*old_pollers, *([old_rules] if old_rules else []), *([old_sns] if old_sns else [])]
        for source in old_sources:
            source._stop.set()  # all at once: each ends its long poll (up to poll_wait_s) in parallel
        for source in old_sources:
            source.stop()
        if self.scheduler:
            self.scheduler.stop()
        old_pools = dict(self.pools)
        self.pools.clear()
        self.pools.update(new_pools)
        self.pools.qualifiers = model.function_qualifiers(app)
        self.app = app
        self.users.pools = pools
        assert self.gateway is not None
        targets, s3_warnings = notification_targets(app)
        for warning in s3_warnings:
            self._note(warning)
        self.function_policies = new_policies
        self.gateway.resource_policies = resource_policies
        self.gateway.keys = keys
        self.gateway.partition_keys = PartitionKeys.from_app(app)
        self.gateway.tags = Tags.from_app(app)
        self.gateway.s3_hooks[:] = [
            Notifier(
                targets,
                opts.region,
                self.invoke_async,
                lambda: self.client("sqs"),
                lambda: self.client("sns"),
                lambda: self.client("events"),
            )
        ]
        self.pollers = []
        self._start_sqs_mappings(app)
        rules = rules_from(app)
        old_firehose = self.firehose
        self.firehose = Firehose(delivery_streams(app), lambda: self.client("s3"))
        self.firehose.start()
        if old_firehose:
            old_firehose.stop()  # delivers what it buffered
        deliverer = Deliverer(
            self.pools,
            self.invoke_async,
            lambda: self.client("sqs"),
            may_invoke=lambda function, rule: self._may_invoke(function, "events.amazonaws.com", rule),
            may_send=lambda queue, rule: self._service_may(
                "events.amazonaws.com", "sqs:SendMessage", queue, rule
            ),
            firehose=self.firehose,
            role_allows=self._role_allows,
            start_execution=lambda machine, body: self.client("stepfunctions").start_execution(
                stateMachineArn=machine, input=body
            ),
        )
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
        if old_sns:
            old_sns.remove()  # before subscribing again: moto answers an identical Subscribe with the old ARN
        self.sns = SnsDelivery(
            subscriptions_from(app),
            lambda: self.client("sns"),
            lambda: self.client("sqs"),
            self.invoke_async,
            lambda function, topic: self._may_invoke(function, "sns.amazonaws.com", topic),
            self.pools,
            lambda queue, topic: self._service_may("sns.amazonaws.com", "sqs:SendMessage", queue, topic),
            opts.poll_wait_s,
        )
        self.sns.start()
        for note in self.sns.notes:
            self._note(note)
        self.scheduler = Scheduler(rules, deliverer, "123456789012", opts.region)
        if opts.clock:
            self.scheduler.start()
        if self.schedule_runner:
            self.schedule_runner.stop()
        self.schedule_runner = ScheduleRunner(
            schedules_from(app),
            self.pools,
            self.invoke_async,
            self.client,
            # the schedule's execution role: trusted by Scheduler, and its policy allows the target action
            lambda role, action, resource: (
                trust_allows(trust.get(role, {}), "scheduler.amazonaws.com")
                and self._role_allows(role, action, resource)
            ),
            "123456789012",
            opts.region,
        )
        if opts.clock:
            self.schedule_runner.start()
        self._serve_apis(app)
        for pool in old_pools.values():
            pool.retire()
        if previous is not None:
            if old_rules:
                old_rules.remove_missing(rules)
            created += provision.remove_resources(previous, app, self.client)
        return created

    def _serve_apis(self, app: App) -> None:
        """One server per REST or HTTP API; on a redeploy an API keeps its server (and port) by name."""
        servers = {server.api.name: server for server in self.api_servers}
        self.api_servers = []
        apis: list[RestApi | HttpApi] = [*rest_apis(app), *http_apis(app), *function_urls(app)]
        for api in apis:
            server = servers.pop(api.name, None)
            if server is not None and type(server.api) is type(api):
                server.replace(api)  # type: ignore[arg-type]
            else:
                if server is not None:
                    server.stop()
                port = self.options.api_port if not self.api_servers and self.options.api_port else 0
                server = self._api_server(api, port)
                server.start()
            self.api_servers.append(server)
        for server in servers.values():
            server.stop()
        self._serve_websocket_apis()

    def _serve_websocket_apis(self) -> None:
        """One WebSocket server per WebSocket API; a redeploy replaces them (their clients reconnect)."""
        assert self.gateway is not None
        for old in self.websocket_servers:
            old.stop()
        self.websocket_servers = []
        for api in self._websocket_apis:
            assert self._certificate is not None
            server = WebSocketServer(
                api,
                self.invoke,
                lambda function, source: self._may_invoke(function, "apigateway.amazonaws.com", source),
                IamAuthorizer(self.gateway, self.options.region, "123456789012"),
                self._certificate,
                self.options.region,
                "123456789012",
            )
            server.start()
            self.websocket_servers.append(server)

    def _api_server(self, api: RestApi | HttpApi, port: int) -> ApiServer | HttpApiServer:
        assert self.gateway is not None
        iam_authorizer = IamAuthorizer(self.gateway, self.options.region, "123456789012")

        def may_invoke(function: str, source: str) -> bool:
            return self._may_invoke(function, "apigateway.amazonaws.com", source)

        if isinstance(api, HttpApi):
            return HttpApiServer(
                api,
                self.invoke,
                "123456789012",
                self.options.region,
                self.verifier.verify_jwt,
                may_invoke,
                port,
                may_invoke_url=lambda function, auth: (
                    self.function_policies.allows_url(function, auth) is not None
                ),
                iam_authorizer=iam_authorizer,
                stage_throttling=self.options.stage_throttling,
            )
        return ApiServer(
            api,
            self.invoke,
            "123456789012",
            port=port,
            authorize=self.verifier.authorize,
            swagger=self.swagger,
            may_invoke=may_invoke,
            region=self.options.region,
            service_calls=self.service_calls,
            iam_authorizer=iam_authorizer,
            function_timeout=lambda arn: self.pools[arn].spec.timeout_s if arn in self.pools else 0.0,
            stage_throttling=self.options.stage_throttling,
        )

    def _write_state(self) -> None:
        app, opts = self.app, self.options
        assert self.gateway is not None and self.scheduler is not None
        self.summary = {
            "pid": os.getpid(),
            "api": {s.api.name: s.base_url for s in self.api_servers},
            "websocket": {s.api.name: s.url for s in self.websocket_servers},
            "swagger": {s.api.name: s.swagger_url for s in self.api_servers},
            "console": f"http://127.0.0.1:{self.control_port}/",
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
            "schedules": {
                **{r.names[0] if r.names else r.name: r.schedule for r in self.scheduler.rules},
                **{
                    s.name: s.expression
                    for s in (self.schedule_runner.schedules if self.schedule_runner else [])
                },
            },
            "user_pools": {_pool_key(pool, self.users.pools): pool.summary() for pool in self.users.pools},
            "startup_s": round(self.startup_s, 2),
        }
        # Whole or not at all: the CLI and other processes poll for this file and read it at once.
        staged = opts.state_dir / "state.json.partial"
        staged.write_text(json.dumps(self.summary, indent=2))
        staged.replace(opts.state_dir / "state.json")

    # ------------------------------------------------------------------ hot reload
    def _assembly_dirs(self) -> list[Path]:
        dirs = self.options.assembly_dir
        return [Path(dirs)] if isinstance(dirs, (str, Path)) else [Path(d) for d in dirs]

    def _start_watch(self) -> None:
        assert self.reloader is not None and self.app_root is not None
        opts = self.options
        self.watcher = Watcher(
            self.app_root,
            lambda: self.reloader.folders if self.reloader else [],
            self._on_changes,
            ignore=[opts.state_dir, *self._assembly_dirs()],
        )
        if opts.synth_command and len(self._assembly_dirs()) == 1:
            self._synth = Synth(list(opts.synth_command), self.app_root, opts.state_dir)
            threading.Thread(target=self._infra_loop, name="re-synth", daemon=True).start()
        self.watcher.start()
        self.watcher.wait_ready()

    def _on_changes(self, changes: Changes) -> None:
        if changes.code:
            self.reload_code(changes.code)
        if changes.infra:
            if self._synth is None:
                self.options.echo(
                    f"{_now()} reload: {', '.join(changes.infra[:3])} changed; infrastructure is not "
                    "reloaded (no --synth-command, or several assemblies): restart to apply"
                )
            else:
                infra = sorted({n for n in changes.infra if (self.app_root or Path()).joinpath(n).exists()})
                self.options.echo(
                    f"{_now()} reload: {', '.join(infra[:3] or changes.infra[:3])} changed; synthesizing"
                )
                self._infra_pending.set()

    def reload_code(self, changed: dict[Path, list[str]]) -> None:
        """The next invocation of each function using a changed folder imports the saved code."""
        started = time.perf_counter()
        with self._redeploy:
            functions: list[str] = []
            for folder in changed:
                clear_bytecode(folder, self.bytecode_dir)
            for pool in self.pools.values():
                spec = pool.spec
                used = [spec.code_dir, *spec.layer_dirs]
                if any(d == f or f in d.parents for d in used for f in changed):
                    pool.recycle()
                    functions.append(spec.display)
        changed_files = {name for names in changed.values() for name in names}
        # Editors and sed save through temporary files that are gone by now: name what is there.
        files = sorted(n for n in changed_files if (self.app_root or Path()).joinpath(n).exists()) or sorted(
            changed_files
        )
        shown = ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
        took = (time.perf_counter() - started) * 1000
        self.options.echo(
            f"{_now()} reload: {shown} -> {', '.join(functions) or 'no function'} "
            f"run the new code from their next invocation ({took:.0f} ms)"
        )

    def _infra_loop(self) -> None:
        """Re-synthesizes after infrastructure saves, one synth at a time; saves during a synth are
        picked up by the next one."""
        while True:
            self._infra_pending.wait()
            if self.watcher is None or self.watcher._stop.is_set():
                return
            self._infra_pending.clear()
            self.reload_infra()

    def reload_infra(self) -> bool:
        """Synthesize and apply the new assembly; on any error keep serving the running app."""
        assert self._synth is not None
        echo = self.options.echo
        out, output, synth_s = self._synth.run()
        if out is None:
            tail = "\n".join(f"    {line}" for line in output.splitlines()[-15:])
            echo(
                f"{_now()} reload: synth failed after {synth_s:.1f}s; still serving the previous app\n{tail}"
            )
            return False
        started = time.perf_counter()
        previous = self.app
        notes: list[str] = []
        try:
            with self._redeploy:
                app = self._load(out, echo=notes.append)
                before = _shape(self)
                lines = self._deploy(app)
                after = _shape(self)
        except (TemplateError, model.UnsupportedResourcesError, ValueError, KeyError) as error:
            echo(f"{_now()} reload: the new assembly cannot run ({error}); still serving the previous app")
            return False
        self._write_state()
        for line in _differences(before, after) + lines:
            echo(f"  {line}")
        echo(
            f"{_now()} reload: applied {out.name} (synth {synth_s:.1f}s, "
            f"apply {time.perf_counter() - started:.2f}s); data kept"
        )
        for directory in {stack.assembly_dir.resolve() for stack in previous.stacks}:
            if directory.parent == self.options.state_dir.resolve() and directory.name.startswith("synth-"):
                shutil.rmtree(directory, ignore_errors=True)
        return True

    def _note(self, text: str) -> None:
        """A note about the app, once per runtime (a reload repeats the same notes)."""
        if text not in self._notes:
            self._notes.add(text)
            self.options.echo(f"  note: {text}")

    def _start_functions(self, specs: list[FunctionSpec], policies: dict[str, Policy]) -> dict[str, Pool]:
        """A pool per function, and its role's credentials at the IAM gateway (a redeploy's new policy
        applies to the function's next call; a removed function's credentials stay for its last calls)."""
        assert self.gateway is not None
        opts = self.options
        skipped: dict[tuple[str, str], list[str]] = {}
        pools: dict[str, Pool] = {}
        for spec in specs:
            policy = policies.get(spec.role_arn, Policy())
            role_name = spec.role_arn.rsplit("/", 1)[-1]
            principal = f"arn:aws:sts::123456789012:assumed-role/{role_name}/{spec.name}"
            identity = Identity(spec.display, principal, policy)
            known = self.gateway.identities.get(spec.access_key)
            if known is not None:  # running workers keep signing with the credentials they were given
                identity.secret_key, identity.session_token = known.secret_key, known.session_token
            self.gateway.identities[spec.access_key] = identity
            # Its workers started by event sources sign with their own key id (priority.py).
            self.gateway.identities[priority.background_key(spec.access_key)] = identity
            for skipped_layer, problem in spec.skipped_layers:
                skipped.setdefault((skipped_layer.parent.name, problem), []).append(spec.display)
            pools[spec.arn] = Pool(
                spec,
                self._lambda_env(spec),
                opts.state_dir / "logs",
                on_invocation=self._log_invocation,
                bytecode_dir=self.bytecode_dir,
            )
        for (layer, problem), functions in skipped.items():
            self._note(
                f"layer {layer} is not put on sys.path of {', '.join(functions)}: {problem}; "
                "its packages come from the runtime's own environment"
            )
        return pools

    def _aws_config_file(self) -> Path:
        """SDK settings for workers: path-style S3 URLs, because `<bucket>.localhost` does not resolve
        everywhere (glibc), so presigned URLs a function hands out must address the bucket in the path;
        no host prefixes (Step Functions' `sync-`): every service is at the one local endpoint."""
        path = self.options.state_dir / "aws-config"
        settings = "[default]\ndisable_host_prefix_injection = true\ns3 =\n    addressing_style = path\n"
        if not path.exists() or path.read_text() != settings:
            path.write_text(settings)
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
            # The local HTTPS endpoints (WebSocket APIs' @connections) have the runtime's certificate.
            **(
                {"AWS_CA_BUNDLE": str(self._certificate[0]), "NODE_EXTRA_CA_CERTS": str(self._certificate[0])}
                if self._certificate
                else {}
            ),
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
            function = str(props["FunctionName"])
            target = function if function.startswith("arn:") else function.split(":")[0]  # name[:alias]
            spec = next((s for s in self.specs if self.pools.function_of(target) in (s.name, s.arn)), None)
            if spec is None:
                raise TemplateError(f"{logical_id}: event source mapping targets unknown function {function}")
            if ":kinesis:" in source or (":dynamodb:" in source and "/stream/" in source):
                self._start_stream_mapping(logical_id, props, spec, source)
                continue
            if ":sqs:" not in source:
                self._note(
                    f"{logical_id}: event source {source} is not emulated (SQS, DynamoDB Streams, Kinesis)"
                )
                continue
            for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
                if not self.service_call(spec, action, source, with_key=False):
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
            # Lambda creates the mapping, but its polls fail while the role may not decrypt with the key.
            problem = None
            if not self._key_allows(spec, "sqs:ReceiveMessage", source):
                problem = f"{spec.display}'s role may not kms:Decrypt with the key of {source}"
            poller = SqsPoller(
                mapping,
                self.pools[spec.arn],
                lambda: self.client("sqs"),
                self.options.region,
                wait_s=self.options.poll_wait_s,
                problem=problem,
                background_nice=self.options.background_nice,
            )
            poller.start()
            self.pollers.append(poller)

    def _start_stream_mapping(
        self, logical_id: str, props: dict[str, Any], spec: FunctionSpec, source: str
    ) -> None:
        kind = "kinesis" if ":kinesis:" in source else "dynamodb"
        needed = (
            "GetRecords",
            "GetShardIterator",
            "DescribeStream",
            "ListShards" if kind == "kinesis" else "ListStreams",
        )
        for action in (f"{kind}:{name}" for name in needed):
            if not self.service_call(spec, action, source, with_key=False):
                raise TemplateError(
                    f"{logical_id}: {spec.display}'s role does not allow {action} on {source}; "
                    "Lambda would refuse this event source mapping"
                )
        on_failure = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        mapping = StreamMapping(
            logical_id=logical_id,
            kind=kind,
            source_arn=source,
            function_arn=spec.arn,
            role_arn=spec.role_arn,
            batch_size=int(props.get("BatchSize", 100)),
            window_s=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            starting_position=str(props.get("StartingPosition", "LATEST")),
            bisect=str(props.get("BisectBatchOnFunctionError", False)).lower() == "true",
            max_retries=int(props.get("MaximumRetryAttempts", -1)),
            max_age_s=int(props.get("MaximumRecordAgeInSeconds", -1)),
            report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            on_failure_arn=str(on_failure) if on_failure else None,
            filters=[str(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])],
        )
        if str(props.get("Enabled", True)).lower() == "false":
            return
        poller = StreamPoller(
            mapping,
            self.pools[spec.arn],
            self.client,
            self.options.region,
            background_nice=self.options.background_nice,
        )
        poller.start()
        self.pollers.append(poller)

    # ------------------------------------------------------------------ invocation
    def service_call(self, spec: FunctionSpec, action: str, resource: str, *, with_key: bool = True) -> bool:
        """A call Lambda makes with the function's role (event source polling, DLQ delivery), and, unless
        only the role's IAM grants are asked about, the KMS actions on the resource's customer managed key."""
        allowed = self._role_allows(spec.role_arn, action, resource)
        if self.recorder:
            self.recorder.record(spec.display, action, resource, allowed, via="lambda-service")
        return allowed and (not with_key or self._key_allows(spec, action, resource))

    def _role_allows(self, role_arn: str, action: str, resource: str) -> bool:
        """A role's own policy allows a call an AWS service makes with it (its tag conditions included)."""
        assert self.gateway is not None
        context = self.gateway.tags.condition_keys(role_arn, resource)
        return self.policies.get(role_arn, Policy()).allows(action, resource, context)

    def _key_allows(self, spec: FunctionSpec, action: str, resource: str) -> bool:
        """The function's role may use the resource's customer managed key for `action` (none: True)."""
        assert self.gateway is not None
        use = self.gateway.keys.use(action, resource)
        if use is None:
            return True
        caller = Caller("123456789012", role_arn=spec.role_arn)
        policy = self.policies.get(spec.role_arn, Policy())
        for kms_action in use.actions:
            key_allows = self.gateway.keys.decide(caller, policy, kms_action, use, {}) == "Allow"
            if self.recorder:
                self.recorder.record(spec.display, kms_action, use.key_arn, key_allows, via="lambda-service")
            if not key_allows:
                return False
        return True

    def _may_invoke(self, function_arn: str, principal: str, source_arn: str) -> bool:
        """The function's resource policy, as Lambda evaluates it for a service's invocation."""
        return self.function_policies.allows(function_arn, principal, source_arn, "123456789012") is not None

    def _service_may(self, service: str, action: str, resource: str, source_arn: str) -> bool:
        """A service's delivery to a queue or topic: only the resource's own policy can allow it."""
        assert self.gateway is not None
        return _service_allowed(
            self.gateway.resource_policies, self.gateway.keys, service, action, resource, source_arn
        )

    def invoke(self, function_arn: str, event: Any, trigger: str = "invoke") -> Invocation:
        return self.pools[function_arn].invoke(event, trigger, invoked_arn=function_arn)

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
        self.console.on_invocation(spec, trigger, invocation)
        status = status_of(invocation)
        if not invocation.ok:
            status += ": " + str((invocation.error or {}).get("errorMessage", ""))[:120]
        temperature = (
            f"cold (init {invocation.init_ms:.0f} ms)"
            if invocation.init_ms is not None
            else ("cold" if invocation.cold else "warm")
        )
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        duration = f"{invocation.duration_ms:8.1f} ms"
        self.options.echo(f"{stamp} {spec.display:<18} {trigger:<40} {duration}  {temperature:<18} {status}")

    # ------------------------------------------------------------------ control port: console and actions
    def _control(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request to the control port (127.0.0.1 only)."""
        console = self.console
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and path in ("/", "/index.html"):
            return 200, "text/html; charset=utf-8", PAGE.read_bytes()
        answer: Any
        if method == "GET":
            match parts:
                case ["api", "overview"]:
                    answer = console.overview()
                case ["api", "invocations"]:
                    answer = console.invocations.after(int(query.get("after", 0)))
                case ["api", "denied"]:
                    answer = console.denied.after(int(query.get("after", 0)))
                case ["api", "queues", queue, "messages"]:
                    answer = console.peek(queue, int(query.get("limit", 10)))
                case ["api", "tables", table]:
                    answer = console.items(table, int(query.get("limit", 25)), query.get("nextToken"))
                case ["api", "buckets", bucket]:
                    answer = console.objects(bucket, int(query.get("limit", 50)), query.get("nextToken"))
                case _:
                    raise LookupError(f"unknown control path {path}")
            return 200, "application/json", json.dumps(answer, default=str).encode()
        match parts:
            case ["invoke"]:
                spec = self.find_function(query["function"])
                invocation = self.invoke(spec.arn, body, "invoke (cli)")
                answer = {
                    "function": spec.display,
                    "ok": invocation.ok,
                    "result": invocation.result,
                    "error": invocation.error,
                    "durationMs": round(invocation.duration_ms, 1),
                    "cold": invocation.cold,
                    "initMs": invocation.init_ms,
                    "logs": invocation.logs,
                }
            case ["user"]:
                if not body.get("username"):
                    raise UserError("the body needs a username")
                answer = self.create_user(
                    str(body["username"]),
                    groups=[str(g) for g in body.get("groups") or []],
                    password=body.get("password"),
                    pool=body.get("pool"),
                )
            case ["fire-schedule"]:
                answer = console.fire(query["rule"])
            case ["api", "schedules", name, "fire"]:
                answer = console.fire(name)
            case ["api", "queues", queue, "redrive"]:
                answer = console.redrive(queue, body.get("to"))
            case ["api", "queues", queue, "delete"]:
                answer = console.delete_message(queue, str(body.get("messageId", "")))
            case ["api", "users", username, "token"]:
                answer = console.token(username, body.get("pool"))
            case _:
                raise LookupError(f"unknown control path {path}")
        return 200, "application/json", json.dumps(answer, default=str).encode()

    def _start_control(self) -> None:
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
                try:
                    # Only pages of this port may act: another site's page cannot send JSON here without
                    # a CORS preflight this port never grants, and a rebound DNS name is refused.
                    if host not in ("127.0.0.1", "localhost"):
                        raise PermissionError(f"Host {host!r} refused: use 127.0.0.1")
                    if method == "POST" and "json" not in (self.headers.get("Content-Type") or ""):
                        raise PermissionError("POST needs Content-Type: application/json")
                    body = json.loads(self.rfile.read(length) or b"{}") if length else {}
                    status, content_type, data = runtime._control(method, parts.path, query, body)
                except (LookupError, ConsoleError) as exc:
                    status, content_type = 404, "application/json"
                    data = json.dumps({"error": str(exc).strip("'\"")}).encode()
                except (UserError, ValueError) as exc:
                    status, content_type, data = (
                        400,
                        "application/json",
                        json.dumps({"error": str(exc)}).encode(),
                    )
                except PermissionError as exc:
                    status, content_type, data = (
                        403,
                        "application/json",
                        json.dumps({"error": str(exc)}).encode(),
                    )
                except ClientError as exc:
                    status, content_type = 400, "application/json"
                    data = json.dumps({"error": str(exc)}).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a page closed mid-poll
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Cache-Control", "no-store")
                    self.end_headers()
                    self.wfile.write(data)

        self.control = ThreadingHTTPServer(("127.0.0.1", self.options.control_port), Handler)
        self.control.daemon_threads = True
        self.control_port = self.control.server_address[1]
        serve = threading.Thread(
            target=self.control.serve_forever, args=(SHUTDOWN_POLL_S,), name="control", daemon=True
        )
        serve.start()

    def _print_reload_banner(self) -> None:
        echo = self.options.echo
        if self.reloader is None:
            why = "no cdk.json beside the assembly" if self.options.watch else "--no-watch"
            echo(f"Hot reload: off ({why})")
            return
        echo(f"Hot reload: watching {self.app_root}")
        for folder, functions in sorted(self.reloader.folders.items()):
            echo(f"  {_relative(folder, self.app_root)}: {', '.join(functions)} (on save, next invocation)")
        if self.reloader.not_found:
            echo(
                f"  {', '.join(self.reloader.not_found)}: run from the assembly (no source folder has "
                "the same files): re-synth to change"
            )
        if self.options.synth_command and len(self._assembly_dirs()) == 1:
            echo(f"  other sources: re-synthesized with `{' '.join(self.options.synth_command)}` and applied")
        else:
            echo("  other sources: not reloaded (no --synth-command): restart to apply")

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
            url = isinstance(server.api, HttpApi) and server.api.function_url_auth is not None
            echo(f"{'Function URL' if url else 'API'} {server.api.name}: {server.base_url}")
            if isinstance(server.api, RestApi):
                keys = {
                    f"{k.name}={k.value}" for stage_keys in server.api.api_keys.values() for k in stage_keys
                }
                if keys:
                    echo(f"  API keys (x-api-key): {'  '.join(sorted(keys))}")
            if isinstance(server.api, RestApi) and len(server.api.stages) > 1:
                others = [
                    f"{server.base_url.rsplit('/', 2)[0]}/{name}/" for name in list(server.api.stages)[1:]
                ]
                echo(f"  other stages: {'  '.join(others)}")
            if server.swagger_url:
                echo(f"Swagger UI: {server.swagger_url}")
            elif isinstance(server, ApiServer):
                echo("  (Swagger UI: not served: the npm package swagger-ui-dist is not installed)")
        for websocket in self.websocket_servers:
            echo(f"WebSocket API {websocket.api.name}: {websocket.url}")
            echo(f"  @connections (functions: requestContext.domainName): {websocket.connections_url}")
        self._print_reload_banner()
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
        echo(
            f"Console: http://127.0.0.1:{self.control_port}/  (invocations, queues and DLQs, tables, buckets)"
        )
        echo(f"Started in {self.startup_s:.2f}s. Stop with Ctrl-C.")

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop in dependency order, so nothing calls a part that has already stopped: first what brings
        work in (API, control port, schedules, queue pollers, bus rules), then what does it (async
        invocations, workers), then the AWS endpoint and moto."""
        if self.watcher:
            self.watcher.stop()
            self._infra_pending.set()  # ends the re-synth thread
        for server in self.api_servers:
            server.stop()
        for websocket in self.websocket_servers:
            websocket.stop()
        if self.control:
            self.control.shutdown()
            self.control.server_close()
        if self.scheduler:
            self.scheduler.stop()
        if self.schedule_runner:
            self.schedule_runner.stop()
        sources: list[SqsPoller | StreamPoller | PatternRules | SnsDelivery] = [*self.pollers]
        if self.pattern_rules:
            sources.append(self.pattern_rules)
        if self.sns:
            sources.append(self.sns)
        for source in sources:
            source._stop.set()
        if self.asynchronous:
            self.asynchronous.stopping()
        for pool in self.pools.values():
            pool.stop()  # in-flight invocations end; their sources see a failed invocation
        for source in sources:
            source.stop()  # each finishes what it holds (redelivery, DLQ) while moto still runs
        if self.asynchronous:
            self.asynchronous.stop()
        if self.firehose:
            self.firehose.stop()  # buffered records reach the bucket while moto still runs
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


def _relative(path: Path, root: Path | None) -> str:
    try:
        return str(path.relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


def _app_root(assembly_dir: Path | Sequence[Path]) -> Path | None:
    """The CDK app's folder: the one holding cdk.json beside (above) the first assembly."""
    first = Path(assembly_dir) if isinstance(assembly_dir, (str, Path)) else Path(next(iter(assembly_dir)))
    root = first.resolve().parent
    return root if (root / "cdk.json").is_file() else None


def _shape(runtime: Runtime) -> dict[str, set[str]]:
    """What a reload can add or remove, by kind, to report the difference."""
    return {
        "function": {s.display for s in runtime.specs},
        "route": {
            f"{m} /{server.api.stage}{path}"
            for server in runtime.api_servers
            if isinstance(server.api, RestApi)
            for path, methods in server.api.methods.items()
            for m in methods
            if m != "OPTIONS"
        }
        | {
            f"{server.api.name} {route.route_key}"
            for server in runtime.api_servers
            if isinstance(server.api, HttpApi)
            for route in server.api.routes
        },
        "queue poller": {p.mapping.logical_id for p in runtime.pollers},
        "rule": {r.name for r in (runtime.scheduler.rules if runtime.scheduler else [])},
    }


def _differences(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[str]:
    lines = []
    for kind in after:
        lines += [f"+ {kind} {name}" for name in sorted(after[kind] - before[kind])]
        lines += [f"- {kind} {name}" for name in sorted(before[kind] - after[kind])]
    return lines


def _service_allowed(
    policies: ResourcePolicies,
    keys: EncryptionKeys,
    service: str,
    action: str,
    resource: str,
    source_arn: str,
) -> bool:
    """A service's delivery: the resource's policy must allow it, and its customer managed key's policy."""
    context = {
        "aws:SourceArn": source_arn,
        "aws:SourceAccount": "123456789012",
        "aws:SecureTransport": "true",
    }
    caller = Caller("123456789012", service=service)
    allowed = policies.decide(caller, action, resource, context) == "Allow"
    return allowed and keys.service_may(service, action, resource, source_arn)


def _check_notification_permissions(
    app: App, functions: FunctionPolicies, resources: ResourcePolicies, keys: EncryptionKeys
) -> None:
    """S3 validates a notification's destinations when the deploy puts the configuration: a function
    the bucket may not invoke, or a queue or topic whose policy (or customer managed key's policy) does
    not let S3 send to it, fails it."""
    targets, _warnings = notification_targets(app)
    for bucket, items in targets.items():
        source = f"arn:aws:s3:::{bucket}"
        for target in items:
            if target.kind == "eventbridge":
                continue  # the default bus needs no permission from S3
            if target.kind == "lambda":
                function = target.arn.split(":function:")[0] + ":function:"
                function += target.arn.split(":function:")[-1].split(":")[0]
                allowed = functions.allows(function, "s3.amazonaws.com", source, "123456789012") is not None
                why = f"no AWS::Lambda::Permission lets s3.amazonaws.com invoke {function}"
            else:
                action = "sqs:SendMessage" if target.kind == "queue" else "sns:Publish"
                allowed = _service_allowed(resources, keys, "s3.amazonaws.com", action, target.arn, source)
                why = (
                    f"the {target.kind} policy of {target.arn} (or its KMS key's policy) does not allow "
                    f"s3.amazonaws.com {action}"
                )
            if not allowed:
                raise TemplateError(
                    f"bucket {bucket}: Unable to validate the following destination configurations: {why} "
                    f"from {source} (S3 checks this when the deploy puts the notification)"
                )


# One boto3 session makes the runtime's clients (each thread has its own set): a session reads the SDK's
# data files (endpoints, service models) once and keeps them, where a session per client read them again,
# about half of a start-up's CPU. Making clients of one session is not thread-safe: one at a time.
_SESSION_LOCK = threading.Lock()
_SESSION: boto3.session.Session | None = None


def _new_client(service: str, **settings: Any) -> Any:
    global _SESSION
    with _SESSION_LOCK:
        _SESSION = _SESSION or boto3.session.Session()
        return _SESSION.client(service, **settings)  # type: ignore[call-overload]


def _pool_key(pool: Any, pools: list[Any]) -> str:
    """A pool's construct name, or its pool name when several assemblies (stages) share the construct name."""
    shared = sum(other.display == pool.display for other in pools) > 1
    return str(pool.pool_name if shared else pool.display)


def start_moto(
    port: int, log_path: Path, timeout_s: float = 30.0, server: str = "local_runtime.moto_server"
) -> subprocess.Popen[bytes] | moto_forks.ForkedServer:
    """moto's server in its own process: its state is this runtime's alone, and it dies with the runtime.

    `server`: local_runtime.moto_server (moto with its hot spots fixed) or moto.server (as released);
    the former is forked from a pre-imported moto when moto_forks is enabled."""
    process: subprocess.Popen[bytes] | moto_forks.ForkedServer
    if server == "local_runtime.moto_server" and moto_forks.enabled():
        process = moto_forks.FORK_SERVER.fork(port, log_path)
    else:
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
