"""Typed, validated per-stage settings read from cdk.json context."""

from __future__ import annotations

import re
from typing import Any, Literal

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

_RETENTION_BY_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


# A browser's Origin: scheme://host[:port], lower case, no path (the functions compare it as a string).
# The same pattern checks CORS_ALLOW_ORIGINS at init (service_common.api, which synth cannot import);
# tests/stacks/test_cors.py pins the two equal.
_ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:]+\])(?::[0-9]{1,5})?")

# cron(minutes hours day-of-month month day-of-week year); one of the two day fields must be "?".
_CRON = re.compile(r"cron\((?:\S+ ){2}(?:\? \S+ \S+|\S+ \S+ \?) \S+\)")


class ConfigError(ValueError):
    """Raised when the stage name or a stage setting is invalid; fails synth."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ApiThrottle(_Strict):
    rate_limit: float = Field(alias="rateLimit", gt=0)
    burst_limit: int = Field(alias="burstLimit", gt=0)


# The order processor's timeout; the orders queue's visibility timeout is derived from it.
ORDER_PROCESSOR_TIMEOUT_SECONDS = 30


class OrdersQueueSettings(_Strict):
    """How the order processor polls the orders queue (Lambda SQS event source limits)."""

    batch_size: int = Field(alias="batchSize", ge=1, le=10_000)
    max_batching_window_seconds: int = Field(alias="maxBatchingWindowSeconds", ge=0, le=300)

    @model_validator(mode="after")
    def _large_batches_need_a_window(self) -> OrdersQueueSettings:
        if self.batch_size > 10 and self.max_batching_window_seconds < 1:
            raise ValueError("a batchSize above 10 needs maxBatchingWindowSeconds of at least 1")
        return self

    @property
    def visibility_timeout_seconds(self) -> int:
        # AWS guidance: at least 6x the function timeout plus the batching window, so a message is not
        # redelivered (and counted as a receive towards the DLQ) while a throttled batch is retried.
        return 6 * ORDER_PROCESSOR_TIMEOUT_SECONDS + self.max_batching_window_seconds


class UserPoolSettings(_Strict):
    # OPTIONAL lets users enrol a TOTP app; REQUIRED makes every user do it at sign-in.
    mfa: Literal["OPTIONAL", "REQUIRED"]
    # Cognito threat protection (Plus plan): AUDIT_ONLY reports risky sign-ins, FULL_FUNCTION acts on them.
    threat_protection: Literal["AUDIT_ONLY", "FULL_FUNCTION"] = Field(alias="threatProtection")
    # An app client for the e2e suite against the deployed stage: it signs test users in with
    # ADMIN_USER_PASSWORD_AUTH, which needs AWS credentials (the deploy role), never a browser.
    test_client: bool = Field(default=False, alias="testClient")


class EmailSettings(_Strict):
    """Who sends the user pool's e-mails (verification codes, password resets).

    Cognito's own sender allows only about 50 e-mails a day per account
    (https://docs.aws.amazon.com/cognito/latest/developerguide/user-pool-email.html): enough for dev,
    not for a production sign-up flow, which sends through SES from an identity verified in SES.
    """

    sender: Literal["cognito", "ses"]
    # SES only: the verified identity (an address, or an address in a verified domain) to send from.
    from_email: EmailStr | None = Field(default=None, alias="fromEmail")
    from_name: str | None = Field(default=None, alias="fromName", min_length=1)
    reply_to: EmailStr | None = Field(default=None, alias="replyTo")
    # The domain verified in SES, when the identity is a domain rather than the address itself.
    ses_verified_domain: str | None = Field(default=None, alias="sesVerifiedDomain")
    # SES sending region if SES is not set up in the stack's region (Cognito supports a few regions).
    ses_region: str | None = Field(default=None, alias="sesRegion", pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")

    @model_validator(mode="after")
    def _ses_needs_a_verified_sender(self) -> EmailSettings:
        ses_only = ("from_email", "from_name", "reply_to", "ses_verified_domain", "ses_region")
        if self.sender == "cognito":
            given = [name for name in ses_only if getattr(self, name) is not None]
            if given:
                aliases = [type(self).model_fields[name].alias for name in given]
                raise ValueError(f"{', '.join(str(a) for a in aliases)} only apply when sender is 'ses'")
            return self
        if self.from_email is None:
            raise ValueError("sender 'ses' needs fromEmail: an address verified in SES (or in its domain)")
        domain = str(self.from_email).rsplit("@", 1)[1].lower()
        verified = self.ses_verified_domain
        if verified is not None and domain != verified.lower():
            raise ValueError(f"fromEmail must be in sesVerifiedDomain {verified!r}, got {self.from_email}")
        return self


class StageConfig(_Strict):
    stage: str
    service: str
    removal_policy_name: Literal["destroy", "retain"] = Field(alias="removalPolicy")
    log_retention_days: int = Field(alias="logRetentionDays")
    deletion_protection: bool = Field(alias="deletionProtection")
    api_throttle: ApiThrottle = Field(alias="apiThrottle")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(alias="logLevel")
    # Where alarms go: an e-mail subscription to the stack's alarm topic, and/or an existing SNS topic
    # (e.g. the team's paging or chat integration) that every alarm also notifies. prod needs one.
    alarm_email: EmailStr | None = Field(default=None, alias="alarmEmail")
    alarm_topic_arn: str | None = Field(
        default=None,
        alias="alarmTopicArn",
        pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$",
    )
    cors_allow_origins: list[str] = Field(alias="corsAllowOrigins", min_length=1)
    orders_queue: OrdersQueueSettings = Field(alias="ordersQueue")
    # EventBridge schedule of the daily report, e.g. "cron(0 2 * * ? *)" (02:00 UTC every day).
    report_schedule: str = Field(alias="reportSchedule")
    # Largest file a client may upload through a presigned PUT URL (S3 single PUT limit: 5 GiB).
    upload_max_bytes: int = Field(alias="uploadMaxBytes", gt=0, le=5 * 1024**3)
    # How long a presigned upload URL stays valid: a few minutes.
    presign_expiry_seconds: int = Field(alias="presignExpirySeconds", ge=60, le=3600)
    # The API's p90 latency alarm threshold.
    api_p90_latency_ms: int = Field(alias="apiP90LatencyMs", gt=0, le=29_000)
    user_pool: UserPoolSettings = Field(alias="userPool")
    email: EmailSettings
    # API Gateway's account-wide CloudWatch Logs role, which stage access logging needs: "create" deploys
    # the shared ApiGatewayAccount stack; "existing" when the account/region already has one (e.g. set by
    # a landing zone). See README "First deploy".
    api_gateway_cloudwatch_role: Literal["create", "existing"] = Field(alias="apiGatewayCloudWatchRole")

    @model_validator(mode="after")
    def _prod_alarms_reach_someone(self) -> StageConfig:
        if self.stage == "prod" and not (self.alarm_email or self.alarm_topic_arn):
            raise ValueError(
                "alarmEmail or alarmTopicArn is required in prod: without either, alarms notify nobody"
            )
        return self

    @property
    def alarm_destination_is_placeholder(self) -> bool:
        """An alarm e-mail in a domain reserved for examples (RFC 2606), e.g. cdk.json's placeholder."""
        domain = str(self.alarm_email or "").rsplit("@", 1)[-1].lower()
        return domain.split(".")[-2:] in (["example", "com"], ["example", "org"], ["example", "net"])

    @field_validator("log_retention_days")
    @classmethod
    def _retention_is_a_cloudwatch_value(cls, value: int) -> int:
        if value not in _RETENTION_BY_DAYS:
            allowed = ", ".join(str(days) for days in _RETENTION_BY_DAYS)
            raise ValueError(f"must be one of CloudWatch's retention periods: {allowed}")
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins_are_browser_origins(cls, value: list[str]) -> list[str]:
        if value == ["*"]:
            return value
        for origin in value:
            if origin == "*":
                raise ValueError("'*' allows every origin and cannot be combined with others")
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port] in lower case, without a path "
                    "or trailing slash, e.g. 'https://app.example.com'"
                )
        return value

    @field_validator("report_schedule")
    @classmethod
    def _schedule_is_an_eventbridge_cron(cls, value: str) -> str:
        if not _CRON.fullmatch(value):
            raise ValueError(
                "must be an EventBridge cron expression with six fields, e.g. 'cron(0 2 * * ? *)'"
            )
        return value

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.removal_policy_name == "retain" else RemovalPolicy.DESTROY

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_BY_DAYS[self.log_retention_days]

    @property
    def stage_title(self) -> str:
        return self.stage.capitalize()

    def stack_name(self, part: str) -> str:
        return f"{self.service.capitalize()}-{self.stage_title}-{part}"


def load_stage_config(context: dict[str, Any], stage: str | None) -> StageConfig:
    """Build the config of `stage` (default: context `defaultStage`) from the cdk.json context."""
    stages = context.get("stages") or {}
    stage = stage or context.get("defaultStage", "dev")
    if stage not in stages:
        known = ", ".join(sorted(stages)) or "none"
        raise ConfigError(f"Unknown stage {stage!r}: cdk.json context 'stages' defines {known}")
    try:
        return StageConfig(stage=stage, service=context.get("service", "orders"), **stages[stage])
    except ValidationError as error:
        problems = "; ".join(
            # A rule across settings (model validator) has no field location: name the stage.
            f"{'.'.join(['stages', stage, *(str(p) for p in e['loc'])])}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"Invalid settings for stage {stage!r}: {problems}") from None
