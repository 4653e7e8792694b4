"""Monitoring: alarms on every DLQ, function, queue and the API → an encrypted SNS topic; one dashboard.

The stack is given what it watches (typed) and builds the same alarms for each; adding a function,
queue or DLQ elsewhere only means passing it in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.dead_letter_queue import dead_letter_queue

PERIOD = Duration.minutes(5)
FUNCTION_ERROR_RATE_PERCENT = 1
API_5XX_RATE_PERCENT = 1
QUEUE_OLDEST_MESSAGE_SECONDS = 15 * 60


@dataclass(frozen=True)
class MonitoredResources:
    api: apigw.RestApi
    functions: Mapping[str, lambda_.IFunction]  # by a readable name, e.g. "UsersApi"
    queues: Sequence[sqs.IQueue] = field(default_factory=list)  # work queues: depth and age
    dead_letter_queues: Sequence[sqs.IQueue] = field(default_factory=list)  # any message is an alarm


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        monitored: MonitoredResources,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.alarm_topic = self._alarm_topic(config)
        # Every alarm notifies the stack's topic and, when the stage names one, an existing topic too.
        self.alarm_topics: list[sns.ITopic] = [self.alarm_topic]
        if config.alarm_topic_arn:
            self.alarm_topics.append(
                sns.Topic.from_topic_arn(self, "ExternalAlarmTopic", config.alarm_topic_arn)
            )
        self._warn_about_alarm_destination(config)
        self.alarms: list[cw.Alarm] = []
        stage = monitored.api.deployment_stage

        for queue in monitored.dead_letter_queues:
            self._alarm(
                f"{queue.node.id}Messages",
                queue.metric_approximate_number_of_messages_visible(
                    statistic=cw.Stats.MAXIMUM, period=Duration.minutes(1)
                ),
                threshold=0,
                description=f"{queue.node.id} holds a message: an event failed all its retries",
            )
        for queue in monitored.queues:
            self._alarm(
                f"{queue.node.id}OldestMessage",
                queue.metric_approximate_age_of_oldest_message(statistic=cw.Stats.MAXIMUM, period=PERIOD),
                threshold=QUEUE_OLDEST_MESSAGE_SECONDS,
                description=f"{queue.node.id} is not being drained",
            )
        for name, function in monitored.functions.items():
            self._alarm(
                f"{name}ErrorRate",
                cw.MathExpression(
                    expression="IF(invocations > 0, 100 * errors / invocations, 0)",
                    using_metrics={
                        "errors": function.metric_errors(statistic=cw.Stats.SUM, period=PERIOD),
                        "invocations": function.metric_invocations(statistic=cw.Stats.SUM, period=PERIOD),
                    },
                    label=f"{name} error rate (%)",
                    period=PERIOD,
                ),
                threshold=FUNCTION_ERROR_RATE_PERCENT,
                description=f"{name}: more than {FUNCTION_ERROR_RATE_PERCENT}% of invocations failed",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(statistic=cw.Stats.SUM, period=PERIOD),
                threshold=0,
                description=f"{name}: invocations were throttled",
            )
        self._alarm(
            "Api5xxRate",
            cw.MathExpression(
                expression="100 * errors",  # 5XXError is 0 or 1 per request: its average is the rate
                using_metrics={
                    "errors": stage.metric_server_error(statistic=cw.Stats.AVERAGE, period=PERIOD)
                },
                label="API 5xx rate (%)",
                period=PERIOD,
            ),
            threshold=API_5XX_RATE_PERCENT,
            description=f"API: more than {API_5XX_RATE_PERCENT}% of requests answered 5xx",
        )
        self._alarm(
            "ApiLatencyP90",
            stage.metric_latency(statistic=cw.Stats.p(90), period=PERIOD),
            threshold=config.api_p90_latency_ms,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            description=f"API: p90 latency above {config.api_p90_latency_ms} ms",
        )
        self.dashboard = self._dashboard(config, monitored)

    def _alarm_topic(self, config: StageConfig) -> sns.Topic:
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description="Encrypts the alarm topic; CloudWatch alarms may publish with it",
            enable_key_rotation=True,
            removal_policy=config.removal_policy,
        )
        # An AWS managed key (aws/sns) cannot be used: CloudWatch must be allowed on the key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{config.service} {config.stage} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        if config.alarm_email:
            undeliverable = dead_letter_queue(
                self,
                "AlarmEmailDlq",
                holds="alarm notifications SNS could not deliver to the alarm email",
                removal_policy=config.removal_policy,
            )
            topic.add_subscription(
                subscriptions.EmailSubscription(str(config.alarm_email), dead_letter_queue=undeliverable)
            )
        return topic

    def _warn_about_alarm_destination(self, config: StageConfig) -> None:
        # prod cannot get here without one (StageConfig); other stages may run without, but say so.
        if not (config.alarm_email or config.alarm_topic_arn):
            Annotations.of(self).add_warning_v2(
                "orders:no-alarm-destination",
                f"Stage {config.stage} has no alarmEmail or alarmTopicArn (cdk.json): "
                "its alarms notify nobody.",
            )
        elif config.alarm_destination_is_placeholder:
            Annotations.of(self).add_warning_v2(
                "orders:placeholder-alarm-email",
                f"Stage {config.stage}'s alarmEmail {config.alarm_email} is a placeholder (cdk.json): "
                "replace it with a real address or set alarmTopicArn before deploying.",
            )

    def _alarm(
        self,
        construct_id: str,
        metric: cw.IMetric,
        *,
        threshold: float,
        description: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int = 1,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        for topic in self.alarm_topics:
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            alarm.add_ok_action(cw_actions.SnsAction(topic))
        self.alarms.append(alarm)
        return alarm

    def _dashboard(self, config: StageConfig, monitored: MonitoredResources) -> cw.Dashboard:
        stage = monitored.api.deployment_stage
        dashboard = cw.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.stack_name("Dashboard"),
            default_interval=Duration.hours(3),
        )
        dashboard.add_widgets(
            cw.TextWidget(markdown=f"# {config.service} ({config.stage})", width=24, height=1),
            cw.GraphWidget(
                title="API requests and errors",
                left=[stage.metric_count(period=PERIOD)],
                right=[
                    stage.metric_client_error(statistic=cw.Stats.SUM, period=PERIOD),
                    stage.metric_server_error(statistic=cw.Stats.SUM, period=PERIOD),
                ],
                width=12,
            ),
            cw.GraphWidget(
                title="API latency (ms)",
                left=[stage.metric_latency(statistic=stat, period=PERIOD) for stat in ("p50", "p90", "p99")],
                left_annotations=[
                    cw.HorizontalAnnotation(value=config.api_p90_latency_ms, label="p90 alarm threshold")
                ],
                width=12,
            ),
        )
        for name, function in monitored.functions.items():
            dashboard.add_widgets(
                cw.GraphWidget(
                    title=f"{name}: invocations, errors, throttles",
                    left=[
                        function.metric_invocations(statistic=cw.Stats.SUM, period=PERIOD),
                        function.metric_errors(statistic=cw.Stats.SUM, period=PERIOD),
                        function.metric_throttles(statistic=cw.Stats.SUM, period=PERIOD),
                    ],
                    width=12,
                ),
                cw.GraphWidget(
                    title=f"{name}: duration (ms)",
                    left=[
                        function.metric_duration(statistic=s, period=PERIOD) for s in ("p50", "p90", "p99")
                    ],
                    width=12,
                ),
            )
        if monitored.queues:
            dashboard.add_widgets(
                cw.GraphWidget(
                    title="Queue depth",
                    left=[
                        q.metric_approximate_number_of_messages_visible(period=PERIOD)
                        for q in monitored.queues
                    ],
                    width=12,
                ),
                cw.GraphWidget(
                    title="Queue oldest message age (s)",
                    left=[
                        q.metric_approximate_age_of_oldest_message(period=PERIOD) for q in monitored.queues
                    ],
                    width=12,
                ),
            )
        if monitored.dead_letter_queues:
            dashboard.add_widgets(
                cw.GraphWidget(
                    title="Dead-letter queue depth",
                    left=[
                        q.metric_approximate_number_of_messages_visible(
                            statistic=cw.Stats.MAXIMUM, period=PERIOD
                        )
                        for q in monitored.dead_letter_queues
                    ],
                    width=24,
                )
            )
        return dashboard
