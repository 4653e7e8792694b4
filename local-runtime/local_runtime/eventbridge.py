"""EventBridge: pattern rules matched by moto and delivered to Lambda by the runtime; schedules on a clock.

Pattern rules are created in moto on their bus with one internal SQS queue per Lambda target, so moto's own
pattern matcher decides which events match; the runtime drains those queues and invokes the function
asynchronously. A target that cannot be delivered (e.g. its function is not in the app) is retried per the
target's RetryPolicy and then sent to the target's dead-letter queue.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local_runtime.polling import Holds
from local_runtime.templates import App, construct_names

log = logging.getLogger("local_runtime.events")
INTERNAL_QUEUE_PREFIX = "local-runtime-rule-"
# After a batch short of 10, a rule's queue is polled again this much later: under load its events are
# then received and deleted 10 at a time instead of one by one (two calls to moto each). EventBridge's
# own delivery takes longer than this.
GATHER_S = 0.05


@dataclass
class RuleTarget:
    target_id: str
    arn: str
    input: str | None = None
    input_path: str | None = None
    max_retries: int = 185
    max_age_s: int = 86400
    dead_letter_arn: str | None = None
    role_arn: str | None = None  # the role EventBridge uses for this target (Firehose, Kinesis, ...)


@dataclass
class Rule:
    logical_id: str
    stack: str
    name: str
    arn: str
    bus: str
    names: list[str]
    pattern: dict[str, Any] | None
    schedule: str | None
    enabled: bool
    targets: list[RuleTarget] = field(default_factory=list)

    def called(self, name: str) -> bool:
        wanted = name.lower()
        return any(wanted == n.lower() for n in [self.name, self.logical_id, *self.names])


def rules_from(app: App) -> list[Rule]:
    rules = []
    for stack, logical_id, resource in app.all_resources("AWS::Events::Rule"):
        props = app.resolve(stack, resource.get("Properties", {}))
        bus = str(props.get("EventBusName") or "default").rsplit("/", 1)[-1]
        pattern = props.get("EventPattern")
        if isinstance(pattern, str):
            pattern = json.loads(pattern)
        targets = []
        for target in props.get("Targets", []):
            retry = target.get("RetryPolicy", {})
            targets.append(
                RuleTarget(
                    target_id=str(target["Id"]),
                    arn=str(target["Arn"]),
                    input=target.get("Input"),
                    input_path=target.get("InputPath"),
                    max_retries=int(retry.get("MaximumRetryAttempts", 185)),
                    max_age_s=int(retry.get("MaximumEventAgeInSeconds", 86400)),
                    dead_letter_arn=target.get("DeadLetterConfig", {}).get("Arn"),
                    role_arn=target.get("RoleArn"),
                )
            )
            if "InputTransformer" in target:
                log.warning("%s: InputTransformer is not emulated; the whole event is delivered", logical_id)
        rules.append(
            Rule(
                logical_id=logical_id,
                stack=stack.name,
                name=app.physical_name(stack, logical_id),
                arn=app.get_att(stack, logical_id, "Arn"),
                bus=bus,
                names=construct_names(resource),
                pattern=pattern,
                schedule=props.get("ScheduleExpression"),
                enabled=props.get("State", "ENABLED") == "ENABLED",
                targets=targets,
            )
        )
    return rules


def target_event(target: RuleTarget, event: dict[str, Any]) -> Any:
    if target.input is not None:
        return json.loads(target.input)
    if target.input_path:
        value: Any = event
        for part in target.input_path.removeprefix("$").strip(".").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return value
    return event


class Deliverer:
    """Delivers one event to one rule target: Lambda (async), SQS, Firehose or a state machine;
    undeliverable → retries → target DLQ."""

    def __init__(
        self,
        function_arns: Container[str],
        invoke_async: Callable[[str, Any, str], Any],
        sqs_client: Callable[[], Any],
        retry_delay_s: float = 0.2,
        may_invoke: Callable[[str, str], bool] | None = None,
        may_send: Callable[[str, str], bool] | None = None,
        firehose: Any = None,
        role_allows: Callable[[str, str, str], bool] | None = None,
        start_execution: Callable[[str, str], Any] | None = None,
    ) -> None:
        self.function_arns = function_arns
        self.firehose = firehose  # local_runtime.firehose.Firehose: delivery streams as targets
        self._start_execution = start_execution  # (state machine ARN, input): Step Functions targets
        self._role_allows = role_allows  # (role ARN, action, resource) -> the target role's policy allows
        # (queue ARN, rule ARN) -> whether the queue's policy lets EventBridge send to it
        self.may_send = may_send
        # (function ARN, rule ARN) -> whether the function's permissions let EventBridge invoke it
        self.may_invoke = may_invoke
        self._invoke_async = invoke_async
        self._sqs = sqs_client
        self.retry_delay_s = retry_delay_s

    def deliver(self, rule: Rule, target: RuleTarget, event: dict[str, Any], trigger: str) -> bool:
        payload = target_event(target, event)
        started = time.monotonic()
        error, code = "", "ResourceNotFoundException"
        for attempt in range(1 + target.max_retries):
            try:
                if ":lambda:" in target.arn:
                    arn = (
                        target.arn.split(":function:")[0]
                        + ":function:"
                        + target.arn.split(":function:")[1].split(":")[0]
                    )
                    # Not retried: EventBridge sends these straight to the DLQ (eb-rule-dlq.html).
                    if arn not in self.function_arns:
                        error, code = f"Function not found: {target.arn}", "NO_RESOURCE"
                        break
                    if self.may_invoke is not None and not self.may_invoke(arn, rule.arn):
                        error = (
                            f"events.amazonaws.com is not authorized to invoke {arn} from {rule.arn} "
                            "(no AWS::Lambda::Permission allows it)"
                        )
                        code = "NO_PERMISSIONS"
                        break
                    self._invoke_async(arn, payload, trigger)
                elif ":firehose:" in target.arn and self.firehose is not None:
                    if not self._target_role_may(target, "firehose:PutRecord"):
                        error, code = (
                            f"the target's role may not firehose:PutRecord on {target.arn}",
                            "NO_PERMISSIONS",
                        )
                        break
                    self.firehose.put(target.arn, json.dumps(payload).encode())
                elif ":states:" in target.arn and self._start_execution is not None:
                    if not self._target_role_may(target, "states:StartExecution"):
                        error = f"the target's role may not states:StartExecution on {target.arn}"
                        code = "NO_PERMISSIONS"
                        break
                    self._start_execution(target.arn, json.dumps(payload))
                elif ":sqs:" in target.arn:
                    if self.may_send is not None and not self.may_send(target.arn, rule.arn):
                        error = f"{target.arn}'s policy does not let EventBridge send from {rule.arn}"
                        code = "NO_PERMISSIONS"
                        break
                    self._send(target.arn, json.dumps(payload), {})
                else:
                    raise NotImplementedError(f"target type of {target.arn} is not emulated")
                return True
            except NotImplementedError as exc:
                log.warning("%s: %s", rule.name, exc)
                return False
            except Exception as exc:
                error = str(exc)
            if (
                time.monotonic() - started + self.retry_delay_s > target.max_age_s
                or attempt == target.max_retries
            ):
                break
            time.sleep(self.retry_delay_s)
        log.warning("%s -> %s undeliverable (%s)", rule.name, target.target_id, error)
        if (
            target.dead_letter_arn
            and self.may_send is not None
            and not self.may_send(target.dead_letter_arn, rule.arn)
        ):
            log.error(
                "%s: the DLQ's policy does not let EventBridge send to it: the event is lost", rule.name
            )
            return False
        if target.dead_letter_arn:
            attributes = {
                "RULE_ARN": {"DataType": "String", "StringValue": rule.arn},
                "TARGET_ARN": {"DataType": "String", "StringValue": target.arn},
                "ERROR_CODE": {"DataType": "String", "StringValue": code},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:1000]},
            }
            self._send(target.dead_letter_arn, json.dumps(event), attributes)
        return False

    def _target_role_may(self, target: RuleTarget, action: str) -> bool:
        """EventBridge calls Firehose and Step Functions targets with the target's role
        (eb-use-resource-based.html): it needs one, and its policy must allow `action` on the target."""
        role_allows, role = self._role_allows, target.role_arn
        return bool(role_allows and role and role_allows(role, action, target.arn))

    def _send(self, queue_arn: str, body: str, attributes: dict[str, Any]) -> None:
        sqs = self._sqs()
        url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)


class PatternRules:
    """Creates pattern rules in moto and drains their internal target queues."""

    def __init__(
        self,
        rules: list[Rule],
        events_client: Callable[[], Any],
        sqs_client: Callable[[], Any],
        deliverer: Deliverer,
        account: str,
        region: str,
        wait_s: float = 1.0,
    ) -> None:
        self.rules = [r for r in rules if r.pattern is not None]
        self._events = events_client
        self._sqs = sqs_client
        self.deliverer = deliverer
        self.account = account
        self.region = region
        self.wait_s = wait_s
        self._stop = threading.Event()
        self._holds = Holds(self._stop)
        self._queues: list[tuple[Rule, str]] = []

    def start(self) -> None:
        events, sqs = self._events(), self._sqs()
        for rule in self.rules:
            events.put_rule(
                Name=rule.name,
                EventBusName=rule.bus,
                EventPattern=json.dumps(rule.pattern),
                State="ENABLED" if rule.enabled else "DISABLED",
            )
            queue_name = f"{INTERNAL_QUEUE_PREFIX}{hashlib.sha256(rule.arn.encode()).hexdigest()[:16]}"
            url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
            arn = f"arn:aws:sqs:{self.region}:{self.account}:{queue_name}"
            events.put_targets(
                Rule=rule.name, EventBusName=rule.bus, Targets=[{"Id": "local-runtime", "Arn": arn}]
            )
            self._queues.append((rule, url))
        for rule, url in self._queues:
            threading.Thread(
                target=self._drain, args=(rule, url), name=f"rule-{rule.name}", daemon=True
            ).start()

    def _drain(self, rule: Rule, url: str) -> None:
        sqs = self._sqs()
        while not self._stop.is_set():
            try:
                response = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=int(self.wait_s)
                )
                messages = response.get("Messages", [])
                if not messages or not self._holds.hold(sqs, url, messages):
                    continue
                delivered: list[dict[str, str]] = []
                try:
                    for message in messages:
                        if self._stop.is_set():
                            break  # left on the rule's queue: stopping is not a delivery failure
                        event = json.loads(message["Body"])
                        event.setdefault("account", self.account)
                        for target in rule.targets:
                            self.deliverer.deliver(
                                rule, target, event, f"rule {rule.names[0] if rule.names else rule.name}"
                            )
                        receipt = message["ReceiptHandle"]
                        delivered.append({"Id": str(len(delivered)), "ReceiptHandle": receipt})
                finally:
                    if delivered:  # one call for the batch; what was not delivered stays on the queue
                        sqs.delete_message_batch(QueueUrl=url, Entries=delivered)
                    self._holds.let_go()
                if len(messages) < 10:  # no backlog: let the next events gather (a long poll returns one)
                    self._stop.wait(GATHER_S)
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("draining rule %s failed", rule.name)
                self._stop.wait(1)

    def stop(self) -> None:
        """Waits for the deliveries in progress, not for long polls (polling.py)."""
        self._stop.set()
        self._holds.wait(5)

    def remove_missing(self, current: list[Rule]) -> None:
        """After a redeploy: delete the rules the new app no longer has, with their internal queues."""
        keep = {(r.bus, r.name) for r in current if r.pattern is not None}
        events, sqs = self._events(), self._sqs()
        for rule, url in self._queues:
            if (rule.bus, rule.name) in keep:
                continue
            events.remove_targets(Rule=rule.name, EventBusName=rule.bus, Ids=["local-runtime"])
            events.delete_rule(Name=rule.name, EventBusName=rule.bus)
            sqs.delete_queue(QueueUrl=url)


# ---------------------------------------------------------------------- schedules

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}


class ScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int] | None:
    """Values a cron field allows; None for '*' or '?'."""
    if text in ("*", "?"):
        return None
    if re.search(r"[LW#]", text):
        raise ScheduleError(f"cron field {text!r}: L, W and # are not supported locally")
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-")
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return values


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    return int(text)


@dataclass
class Schedule:
    expression: str
    interval_s: float | None = None
    cron: list[set[int] | None] | None = None

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        rate = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression.strip())
        if rate:
            unit = {"minute": 60, "hour": 3600, "day": 86400}[rate.group(2).rstrip("s")]
            return cls(expression, interval_s=int(rate.group(1)) * unit)
        cron = re.fullmatch(r"cron\((.+)\)", expression.strip())
        if not cron or len(cron.group(1).split()) != 6:
            raise ScheduleError(f"unsupported schedule expression {expression!r}")
        minute, hour, dom, month, dow, year = cron.group(1).split()
        return cls(
            expression,
            cron=[
                _field(minute, 0, 59),
                _field(hour, 0, 23),
                _field(dom, 1, 31),
                _field(month, 1, 12, _MONTHS),
                _field(dow, 1, 7, _DAYS),
                _field(year, 1970, 2199),
            ],
        )

    def matches(self, when: datetime) -> bool:
        assert self.cron is not None
        minute, hour, dom, month, dow, year = self.cron
        aws_dow = (when.isoweekday() % 7) + 1  # SUN=1 .. SAT=7
        checks = [
            (minute, when.minute),
            (hour, when.hour),
            (dom, when.day),
            (month, when.month),
            (dow, aws_dow),
            (year, when.year),
        ]
        return all(allowed is None or value in allowed for allowed, value in checks)

    def next_after(self, when: datetime) -> datetime:
        if self.interval_s is not None:
            return when + timedelta(seconds=self.interval_s)
        candidate = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(60 * 24 * 366 * 2):
            if self.matches(candidate):
                return candidate
            candidate += timedelta(minutes=1)
        raise ScheduleError(f"{self.expression} never fires")


def scheduled_event(rule: Rule, account: str, region: str, when: datetime | None = None) -> dict[str, Any]:
    when = when or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule.arn],
        "detail": {},
    }


class Scheduler:
    def __init__(
        self,
        rules: list[Rule],
        deliverer: Deliverer,
        account: str,
        region: str,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rules = [r for r in rules if r.schedule]
        self.deliverer = deliverer
        self.account = account
        self.region = region
        self._now = now
        self.schedules = {r.arn: Schedule.parse(r.schedule or "") for r in self.rules}
        self.next_fire: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def find(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.called(name):
                return rule
        known = ", ".join(r.names[0] if r.names else r.name for r in self.rules) or "none"
        raise LookupError(f"no schedule rule called {name!r} (schedules: {known})")

    def fire(self, rule: Rule, when: datetime | None = None) -> int:
        event = scheduled_event(rule, self.account, self.region, when)
        label = rule.names[0] if rule.names else rule.name
        return sum(self.deliverer.deliver(rule, t, event, f"schedule {label}") for t in rule.targets)

    def start(self) -> None:
        now = self._now()
        for rule in self.rules:
            self.next_fire[rule.arn] = self.schedules[rule.arn].next_after(now)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            now = self._now()
            for rule in self.rules:
                due = self.next_fire[rule.arn]
                if rule.enabled and now >= due:
                    self.next_fire[rule.arn] = self.schedules[rule.arn].next_after(due)
                    try:
                        self.fire(rule, due)
                    except Exception:
                        log.exception("schedule %s failed", rule.name)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)
