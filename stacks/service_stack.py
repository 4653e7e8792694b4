"""The service: API routes → functions, with exact per-function grants on the data stack's resources."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import StageConfig
from stacks.constructs.dependency_layer import DependencyLayer
from stacks.constructs.service_api import ServiceApi
from stacks.constructs.service_function import RUNTIME, ServiceFunction

SHARED_LAYER_DIR = "layers/shared"


@dataclass(frozen=True)
class DataResources:
    """What the service stack uses from the data stack."""

    users_table: dynamodb.ITable


class ServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        data: DataResources,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self._config = config
        self.layers = [
            DependencyLayer(self, "DependencyLayer", runtime=RUNTIME).layer,
            lambda_.LayerVersion(
                self,
                "SharedLayer",
                description="Shared service code (errors, responses, env, AWS clients)",
                code=lambda_.Code.from_asset(SHARED_LAYER_DIR, exclude=["**/__pycache__"]),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[lambda_.Architecture.ARM_64],
            ),
        ]
        self.api = ServiceApi(self, "Api", config=config)

        # /users → users_api → UsersTable
        self.users_api = self._function(
            "UsersApi",
            folder="users_api",
            description="Users CRUD API",
            environment={"USERS_TABLE_NAME": data.users_table.table_name},
        )
        self.users_api.allow(
            [
                "dynamodb:PutItem",
                "dynamodb:GetItem",
                "dynamodb:Scan",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            [data.users_table.table_arn],
        )
        for method, path, query in (
            ("POST", "/users", ()),
            ("GET", "/users", ("limit", "nextToken")),
            ("GET", "/users/{userId}", ()),
            ("PUT", "/users/{userId}", ()),
            ("DELETE", "/users/{userId}", ()),
        ):
            self.api.route(method, path, self.users_api.function, query_params=query)

    def _function(
        self,
        construct_id: str,
        *,
        folder: str,
        description: str,
        environment: dict[str, str],
        timeout_seconds: int = 10,
        memory_size: int = 512,
    ) -> ServiceFunction:
        return ServiceFunction(
            self,
            construct_id,
            folder=folder,
            description=description,
            config=self._config,
            layers=self.layers,
            environment=environment,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_size,
        )
