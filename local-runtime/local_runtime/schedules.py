"""EventBridge Scheduler schedules (AWS::Scheduler::Schedule): `rate()`, `cron()` (in the schedule's
`ScheduleExpressionTimezone`) and one-time `at()` expressions, between `StartDate` and `EndDate`, fired on
the runtime's clock or by `fire-schedule <name>`.

Unlike a rule, a schedule calls its target with its execution role (`Target.RoleArn`): the role's policy
must allow the target action (lambda:InvokeFunction, sqs:SendMessage, sns:Publish, events:PutEvents), no
resource policy is asked; Lambda is invoked asynchronously with the target's `Input` as the event (`{}`
without one). A call that fails is retried up to `RetryPolicy.MaximumRetryAttempts`, then goes to the
target's DLQ with Scheduler's error attributes, or is dropped.
https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets.html
https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from local_runtime.eventbridge import Schedule
from local_runtime.targets import TARGET_ACTIONS, send, target_service
from local_runtime.templates import App, TemplateError, construct_names

log = logging.getLogger("local_runtime.schedules")


@dataclass
class ScheduleTarget:
    arn: str
    role_arn: str
    input: str | None = None
    max_retries: int = 185  # Scheduler's defaults
    dlq_arn: str | None = None
    event_parameters: dict[str, str] = field(default_factory=dict)  # an event bus target's Source, DetailType


@dataclass
class SchedulerSchedule:
    logical_id: str
    name: str
    group: str
    expression: str
    timezone: str
    enabled: bool
    target: ScheduleTarget
    names: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None

    @property
    def arn(self) -> str:
        return f"schedule/{self.group}/{self.name}"

    def called(self, name: str) -> bool:
        return name.lower() in {n.lower() for n in [self.name, self.logical_id, *self.names]}


def schedules_from(app: App) -> list[SchedulerSchedule]:
    found = []
    for stack, lid, resource in app.all_resources("AWS::Scheduler::Schedule"):
        props = app.resolve(stack, resource.get("Properties", {}))
        target = props.get("Target", {})
        if not target.get("Arn") or target_service(str(target["Arn"])) not in TARGET_ACTIONS:
            raise TemplateError(
                f"{stack.name}/{lid}: schedule target {target.get('Arn')} is not emulated (Lambda, SQS, SNS, "
                "an event bus)"
            )
        retry = target.get("RetryPolicy", {})
        found.append(
            SchedulerSchedule(
                logical_id=lid,
                name=str(props.get("Name") or f"{stack.name}-{lid}"),
                group=str(props.get("GroupName") or "default"),
                expression=str(props["ScheduleExpression"]),
                timezone=str(props.get("ScheduleExpressionTimezone") or "UTC"),
                enabled=str(props.get("State", "ENABLED")).upper() == "ENABLED",
                target=ScheduleTarget(
                    arn=str(target["Arn"]),
                    role_arn=str(target.get("RoleArn", "")),
                    input=target.get("Input"),
                    max_retries=int(retry.get("MaximumRetryAttempts", 185)),
                    dlq_arn=target.get("DeadLetterConfig", {}).get("Arn"),
                    event_parameters=target.get("EventBridgeParameters", {}),
                ),
                names=construct_names(resource),
                start=_date(props.get("StartDate")),
                end=_date(props.get("EndDate")),
            )
        )
    return found


def _date(value: Any) -> datetime | None:
    """A StartDate/EndDate, in UTC when it names no offset."""
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class ScheduleRunner:
    def __init__(
        self,
        schedules: list[SchedulerSchedule],
        functions: Container[str],
        invoke_async: Callable[[str, Any, str], Any],
        client: Callable[[str], Any],
        role_allows: Callable[[str, str, str], bool],
        account: str,
        region: str,
        retry_delay_s: float = 0.2,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.schedules = schedules
        self._functions = functions
        self._invoke_async = invoke_async
        self._client = client  # service name -> the runtime's own boto3 client
        self._role_allows = role_allows  # (role ARN, action, resource) -> the role's policy allows it
        self.account, self.region = account, region
        self.retry_delay_s = retry_delay_s
        self._now = now
        self._parsed = {s.logical_id: _parse(s.expression) for s in schedules}
        self.next_fire: dict[str, datetime | None] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler-schedules", daemon=True)

    def find(self, name: str) -> SchedulerSchedule:
        for schedule in self.schedules:
            if schedule.called(name):
                return schedule
        raise LookupError(f"no schedule called {name!r}")

    def start(self) -> None:
        for schedule in self.schedules:
            self.next_fire[schedule.logical_id] = self._next(schedule, self._now())
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3)

    def _next(self, schedule: SchedulerSchedule, after: datetime) -> datetime | None:
        zone = ZoneInfo(schedule.timezone)
        parsed = self._parsed[schedule.logical_id]
        if isinstance(parsed, datetime):  # at(): once, in the schedule's time zone
            when = parsed.replace(tzinfo=zone)
            return when if when > after else None
        if schedule.start and after < schedule.start:
            after = schedule.start
        when = parsed.next_after(after.astimezone(zone)).astimezone(UTC)
        return None if schedule.end and when > schedule.end else when

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            now = self._now()
            for schedule in self.schedules:
                due = self.next_fire.get(schedule.logical_id)
                if due is None or not schedule.enabled or now < due:
                    continue
                self.next_fire[schedule.logical_id] = self._next(schedule, due)
                try:
                    self.fire(schedule)
                except Exception:
                    log.exception("schedule %s failed", schedule.name)

    def fire(self, schedule: SchedulerSchedule) -> bool:
        """One delivery to the target, with the retries and DLQ of its retry policy. True if delivered."""
        target = schedule.target
        failure: tuple[str, str] | None = None
        for attempt in range(1 + target.max_retries):
            failure = self._deliver(schedule)
            if failure is None:
                return True
            if attempt < target.max_retries:
                time.sleep(self.retry_delay_s)  # short locally, as a rule target's retries are
        assert failure is not None
        code, error = failure
        log.error("schedule %s: %s", schedule.name, error)
        if target.dlq_arn:
            attributes = {
                "ERROR_CODE": code,
                "ERROR_MESSAGE": error,
                "EXECUTION_ID": f"{int(time.time())}-{schedule.name}",
                "SCHEDULE_ARN": f"arn:aws:scheduler:{self.region}:{self.account}:{schedule.arn}",
                "TARGET_ARN": target.arn,
            }
            sqs = self._client("sqs")
            url = sqs.get_queue_url(QueueName=target.dlq_arn.rsplit(":", 1)[-1])["QueueUrl"]
            message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
            sqs.send_message(
                QueueUrl=url, MessageBody=target.input or "{}", MessageAttributes=message_attributes
            )
        return False

    def _deliver(self, schedule: SchedulerSchedule) -> tuple[str, str] | None:
        """None when the target took the call; else (error code, message)."""
        target = schedule.target
        action = TARGET_ACTIONS[target_service(target.arn)]
        if not self._role_allows(target.role_arn, action, target.arn):
            return (
                "AccessDeniedException",
                f"the schedule's role {target.role_arn} may not {action} on {target.arn}",
            )
        if target_service(target.arn) == "lambda" and target.arn not in self._functions:
            return "ResourceNotFoundException", f"function {target.arn} does not exist"
        # an event bus target: the input is the detail of an event with the target's Source and DetailType
        event = (
            target.event_parameters.get("Source", "aws.scheduler"),
            target.event_parameters.get("DetailType", "Scheduled Event"),
            (),
        )
        payload = target.input if target.input is not None else "{}"
        send(target.arn, payload, self._client, self._invoke_async, f"schedule {schedule.name}", event)
        return None


def _parse(expression: str) -> Schedule | datetime:
    at = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", expression.strip())
    if at:
        return datetime.fromisoformat(at.group(1))
    return Schedule.parse(expression)
