"""Step Functions (AWS::StepFunctions::StateMachine): executions run in moto's ASL interpreter and each
task's AWS call goes through the IAM gateway as the state machine's role. A Lambda task runs on the
runtime's workers; a service task the role may not call fails the execution with AWS's AccessDenied;
a role Step Functions may not assume is refused at deploy; a function starts executions with its SDK
only when its own role allows states:StartExecution."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local_runtime.runtime import Runtime
from local_runtime.templates import TemplateError
from tests.helpers import aws_client, eventually, policy_role, python_function, running_stack

PRICE = """
def handler(event, context):
    if event["qty"] < 0:
        raise ValueError("a quantity cannot be negative")
    return {"id": event["id"], "total": event["qty"] * 3}
"""
STARTER = """
import json, os
import boto3

def handler(event, context):
    sfn = boto3.client("stepfunctions")
    start = sfn.start_sync_execution if event.get("sync") else sfn.start_execution
    try:
        started = start(stateMachineArn=event["machine"], input=json.dumps(event["input"]))
    except sfn.exceptions.ClientError as error:
        return {"error": error.response["Error"]["Code"], "message": error.response["Error"]["Message"]}
    if event.get("sync"):
        return {"status": started["status"], "output": json.loads(started["output"])}
    return {"executionArn": started["executionArn"]}
"""
STATES_TRUST = {
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
}
INVOKE_PRICE = {
    "Effect": "Allow",
    "Action": "lambda:InvokeFunction",
    "Resource": [
        {"Fn::GetAtt": ["Price", "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": ["Price", "Arn"]}, ":*"]]},
    ],
}
PUT_ORDER = {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": {"Fn::GetAtt": ["Orders", "Arn"]}}


def _machine_role(*statements: dict[str, Any], trust: dict[str, Any] = STATES_TRUST) -> dict[str, Any]:
    role = policy_role(*statements)
    role["Properties"]["AssumeRolePolicyDocument"] = trust
    return role


def _definition(price_arn: Any, table: Any) -> list[Any]:
    """The ASL as CDK writes it: a JSON string joined around the tokens (Fn::Join)."""
    states = {
        "StartAt": "Price",
        "States": {
            "Price": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "@PRICE@", "Payload.$": "$"},
                "ResultSelector": {"total.$": "$.Payload.total"},
                "ResultPath": "$.price",
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Rejected"}],
                "Next": "Big?",
            },
            "Big?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.price.total", "NumericGreaterThan": 100, "Next": "Rejected"}],
                "Default": "Save",
            },
            "Save": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": "@TABLE@",
                    "Item": {"id": {"S.$": "$.id"}, "total": {"N.$": "States.Format('{}', $.price.total)"}},
                },
                "ResultPath": None,
                "End": True,
            },
            "Rejected": {"Type": "Fail", "Error": "Rejected", "Cause": "not an order we take"},
        },
    }
    text = json.dumps(states)
    before, rest = text.split("@PRICE@")
    middle, after = rest.split("@TABLE@")
    return [before, price_arn, middle, table, after]


def _waiting_definition(queue_url: Any) -> list[Any]:
    states = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": "@QUEUE@",
                    "MessageBody": {"token.$": "$$.Task.Token", "id.$": "$.id"},
                },
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    before, after = json.dumps(states).split("@QUEUE@")
    return [before, queue_url, after]


def _api_resource(part: str) -> dict[str, Any]:
    return {
        "Type": "AWS::ApiGateway::Resource",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ParentId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
            "PathPart": part,
        },
    }


def _start_method(resource: str, action: str, machine: str, response_template: str) -> dict[str, Any]:
    """POST on `resource`: a REST AWS integration calling Step Functions' `action` on `machine` with the
    request body as the execution's input, as ApiRole."""
    request = [
        '{"stateMachineArn": "',
        {"Ref": machine},
        '", "input": "$util.escapeJavaScript($input.json(\'$\'))"}',
    ]
    return {
        "Type": "AWS::ApiGateway::Method",
        "Properties": {
            "RestApiId": {"Ref": "Api"},
            "ResourceId": {"Ref": resource},
            "HttpMethod": "POST",
            "AuthorizationType": "NONE",
            "Integration": {
                "Type": "AWS",
                "IntegrationHttpMethod": "POST",
                "Uri": {"Fn::Sub": f"arn:aws:apigateway:${{AWS::Region}}:states:action/{action}"},
                "Credentials": {"Fn::GetAtt": ["ApiRole", "Arn"]},
                "RequestTemplates": {"application/json": {"Fn::Join": ["", request]}},
                "IntegrationResponses": [
                    {"StatusCode": "200", "ResponseTemplates": {"application/json": response_template}}
                ],
            },
            "MethodResponses": [{"StatusCode": "200"}],
        },
    }


TEMPLATE = {
    "Resources": {
        "Orders": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "TableName": "sfn-orders",
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "BillingMode": "PAY_PER_REQUEST",
            },
        },
        "Price": python_function("asset.price"),
        "MachineRole": _machine_role(INVOKE_PRICE, PUT_ORDER),
        "NoWriteRole": _machine_role(INVOKE_PRICE),
        "Checkout": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "checkout",
                "RoleArn": {"Fn::GetAtt": ["MachineRole", "Arn"]},
                "DefinitionString": {
                    "Fn::Join": ["", _definition({"Fn::GetAtt": ["Price", "Arn"]}, {"Ref": "Orders"})]
                },
            },
        },
        # The same machine as `Definition` with DefinitionSubstitutions, under a role without PutItem.
        "NoWrite": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "RoleArn": {"Fn::GetAtt": ["NoWriteRole", "Arn"]},
                "Definition": json.loads("".join(_definition("${PriceArn}", "${Table}"))),
                "DefinitionSubstitutions": {
                    "PriceArn": {"Fn::GetAtt": ["Price", "Arn"]},
                    "Table": {"Ref": "Orders"},
                },
            },
        },
        # A task that waits for its token: the role sends it to a queue; whoever reads it answers.
        "Approvals": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "sfn-approvals"}},
        "WaitRole": _machine_role(
            {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Approvals", "Arn"]}}
        ),
        "Approval": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "approval",
                "RoleArn": {"Fn::GetAtt": ["WaitRole", "Arn"]},
                "DefinitionString": {"Fn::Join": ["", _waiting_definition({"Ref": "Approvals"})]},
            },
        },
        # AWS SDK integrations (aws-sdk:*): a read the role allows, then a write it does not.
        "ReadOnlyRole": _machine_role(
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["Orders", "Arn"]}}
        ),
        "Copy": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "copy",
                "RoleArn": {"Fn::GetAtt": ["ReadOnlyRole", "Arn"]},
                "Definition": {
                    "StartAt": "Read",
                    "States": {
                        "Read": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                            "Parameters": {"TableName": "sfn-orders", "Key": {"id": {"S.$": "$.id"}}},
                            "ResultSelector": {"total.$": "$.Item.total.N"},
                            "Next": "Write",
                        },
                        "Write": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                            "Parameters": {"TableName": "sfn-orders", "Item": {"id": {"S": "copy"}}},
                            "End": True,
                        },
                    },
                },
            },
        },
        # An express state machine, answered synchronously (StartSyncExecution).
        "Quote": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": "quote",
                "StateMachineType": "EXPRESS",
                "RoleArn": {"Fn::GetAtt": ["MachineRole", "Arn"]},
                "DefinitionString": {
                    "Fn::Join": ["", _definition({"Fn::GetAtt": ["Price", "Arn"]}, {"Ref": "Orders"})]
                },
            },
        },
        "StarterRole": policy_role(
            {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": "Checkout"}},
            {"Effect": "Allow", "Action": "states:StartSyncExecution", "Resource": {"Ref": "Quote"}},
        ),
        "Starter": python_function("asset.starter", "StarterRole"),
        # POST /checkout starts an execution: a REST AWS integration with the StartExecution action.
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": "shop"}},
        "Checkouts": _api_resource("checkout"),
        "StartCheckout": _start_method("Checkouts", "StartExecution", "Checkout", "$input.json('$')"),
        "Quotes": _api_resource("quote"),
        # As CDK's StepFunctionsRestApi builds it: StartSyncExecution, the output as the response.
        "GetQuote": _start_method(
            "Quotes",
            "StartSyncExecution",
            "Quote",
            "#set($out = $input.path('$'))\n"
            '#if($out.status == "SUCCEEDED")$out.output#else{"error": "$out.error"}#end',
        ),
        "ApiRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "apigateway.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                },
                "Policies": [
                    {
                        "PolicyName": "start",
                        "PolicyDocument": {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "states:StartExecution",
                                    "Resource": {"Ref": "Checkout"},
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "states:StartSyncExecution",
                                    "Resource": {"Ref": "Quote"},
                                },
                            ]
                        },
                    }
                ],
            },
        },
        "Stage": {
            "Type": "AWS::ApiGateway::Stage",
            "Properties": {"RestApiId": {"Ref": "Api"}, "StageName": "v1"},
        },
        # An EventBridge rule and a Scheduler schedule start executions with their target's role.
        "StartRole": _machine_role(
            {"Effect": "Allow", "Action": "states:StartExecution", "Resource": {"Ref": "Checkout"}},
            trust={
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["events.amazonaws.com", "scheduler.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ]
            },
        ),
        "OnCart": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["shop.cart"]},
                "Targets": [
                    {
                        "Id": "checkout",
                        "Arn": {"Ref": "Checkout"},
                        "RoleArn": {"Fn::GetAtt": ["StartRole", "Arn"]},
                        "InputPath": "$.detail",
                    }
                ],
            },
        },
        "Nightly": {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "Name": "nightly-checkout",
                "ScheduleExpression": "cron(0 2 * * ? *)",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "Target": {
                    "Arn": {"Ref": "Checkout"},
                    "RoleArn": {"Fn::GetAtt": ["StartRole", "Arn"]},
                    "Input": json.dumps({"id": "o-nightly", "qty": 7}),
                },
            },
        },
    }
}


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    assets = {"asset.price": PRICE, "asset.starter": STARTER}
    with running_stack(tmp_path_factory, "Sfn", TEMPLATE, assets) as started:
        yield started


def _machine(runtime: Runtime, name: str) -> str:
    machines = aws_client(runtime, "stepfunctions").list_state_machines()["stateMachines"]
    return next(m["stateMachineArn"] for m in machines if name in m["name"])


def _finished(runtime: Runtime, execution_arn: str) -> dict[str, Any]:
    sfn = aws_client(runtime, "stepfunctions")
    described: dict[str, Any] = {}

    def done() -> bool:
        described.update(sfn.describe_execution(executionArn=execution_arn))
        return described["status"] != "RUNNING"

    eventually(done, timeout_s=30, what=f"execution {execution_arn}")
    return described


def _run(runtime: Runtime, machine: str, payload: dict[str, Any]) -> dict[str, Any]:
    sfn = aws_client(runtime, "stepfunctions")
    started = sfn.start_execution(stateMachineArn=_machine(runtime, machine), input=json.dumps(payload))
    return _finished(runtime, started["executionArn"])


def test_an_execution_runs_its_lambda_task_and_writes_through_its_role(runtime: Runtime) -> None:
    done = _run(runtime, "checkout", {"id": "o-1", "qty": 5})
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"id": "o-1", "qty": 5, "price": {"total": 15}}
    item = runtime.client("dynamodb").get_item(TableName="sfn-orders", Key={"id": {"S": "o-1"}})["Item"]
    assert item == {"id": {"S": "o-1"}, "total": {"N": "15"}}
    assert (
        "START RequestId" in (runtime.options.state_dir / "logs" / "Price.log").read_text()
    )  # a worker ran it
    # No name given: Step Functions names the execution with a UUID, as AWS does.
    assert len(done["name"]) == 36 and done["name"].count("-") == 4


@pytest.mark.parametrize(
    ("qty", "why"),
    [(50, "the Choice state sends a total of 150 to Fail"), (-1, "the Lambda error is caught")],
)
def test_choice_and_catch_route_to_the_fail_state(runtime: Runtime, qty: int, why: str) -> None:
    done = _run(runtime, "checkout", {"id": f"o-{qty}", "qty": qty})
    assert (done["status"], done["error"], done["cause"]) == ("FAILED", "Rejected", "not an order we take"), (
        why
    )
    assert "Item" not in runtime.client("dynamodb").get_item(
        TableName="sfn-orders", Key={"id": {"S": f"o-{qty}"}}
    )


def test_a_task_its_role_may_not_call_fails_the_execution_with_access_denied(runtime: Runtime) -> None:
    done = _run(runtime, "NoWrite", {"id": "o-2", "qty": 2})
    assert done["status"] == "FAILED", done
    assert "AccessDenied" in done["error"] + done["cause"] and "dynamodb:PutItem" in done["cause"], done
    assert "Item" not in runtime.client("dynamodb").get_item(TableName="sfn-orders", Key={"id": {"S": "o-2"}})
    recording = runtime.options.state_dir / "recording.jsonl"
    calls = [json.loads(line) for line in recording.read_text().splitlines()]
    by_machine = {
        (c["function"], c["action"], c["allowed"]) for c in calls if c["function"].startswith("states")
    }
    assert ("states (Sfn-NoWriteRole)", "dynamodb:PutItem", False) in by_machine
    assert ("states (Sfn-NoWriteRole)", "lambda:InvokeFunction", True) in by_machine


def test_a_function_starts_an_execution_only_where_its_role_allows(runtime: Runtime) -> None:
    starter = runtime.find_function("Starter").arn
    allowed = runtime.invoke(
        starter, {"machine": _machine(runtime, "checkout"), "input": {"id": "o-3", "qty": 1}}
    )
    assert allowed.ok, allowed.error
    assert _finished(runtime, allowed.result["executionArn"])["status"] == "SUCCEEDED"
    denied = runtime.invoke(
        starter, {"machine": _machine(runtime, "NoWrite"), "input": {"id": "o-4", "qty": 1}}
    )
    assert denied.result["error"] == "AccessDeniedException", denied.result
    assert "states:StartExecution" in denied.result["message"]


def test_an_api_integration_starts_an_execution_as_its_credentials_role(runtime: Runtime) -> None:
    answer = requests.post(
        f"{runtime.api_servers[0].base_url}checkout", json={"id": "o-5", "qty": 4}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert _finished(runtime, answer.json()["executionArn"])["status"] == "SUCCEEDED"
    item = runtime.client("dynamodb").get_item(TableName="sfn-orders", Key={"id": {"S": "o-5"}})["Item"]
    assert item["total"] == {"N": "12"}


def test_an_express_machine_answers_synchronously_through_the_api_and_the_sdk(runtime: Runtime) -> None:
    answer = requests.post(
        f"{runtime.api_servers[0].base_url}quote", json={"id": "q-1", "qty": 2}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"id": "q-1", "qty": 2, "price": {"total": 6}}
    rejected = requests.post(
        f"{runtime.api_servers[0].base_url}quote", json={"id": "q-2", "qty": 40}, timeout=30
    )
    assert rejected.json() == {"error": "Rejected"}
    # A function's SDK call (the runtime turns off the SDK's `sync-` host prefix: one local endpoint).
    quote = _machine(runtime, "quote")
    called = runtime.invoke(
        runtime.find_function("Starter").arn,
        {"sync": True, "machine": quote, "input": {"id": "q-3", "qty": 1}},
    )
    assert called.result == {"status": "SUCCEEDED", "output": {"id": "q-3", "qty": 1, "price": {"total": 3}}}
    # Only express state machines run synchronously, as in AWS.
    sfn = aws_client(runtime, "stepfunctions", inject_host_prefix=False)
    with pytest.raises(sfn.exceptions.ClientError, match="StateMachineTypeNotSupported"):
        sfn.start_sync_execution(stateMachineArn=_machine(runtime, "checkout"), input="{}")


@pytest.mark.parametrize("approved", [True, False])
def test_a_task_waits_for_its_token_and_goes_on_with_the_answer(runtime: Runtime, approved: bool) -> None:
    sfn, sqs = aws_client(runtime, "stepfunctions"), aws_client(runtime, "sqs")
    started = sfn.start_execution(
        stateMachineArn=_machine(runtime, "approval"), input=json.dumps({"id": "a-1"})
    )
    queue = sqs.get_queue_url(QueueName="sfn-approvals")["QueueUrl"]
    received: list[dict[str, Any]] = []
    eventually(
        lambda: received.extend(sqs.receive_message(QueueUrl=queue).get("Messages", [])) or bool(received),
        timeout_s=30,
        what="the task's message with its token",
    )
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=received[0]["ReceiptHandle"])
    body = json.loads(received[0]["Body"])
    assert body["id"] == "a-1"
    assert sfn.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING"
    if approved:
        sfn.send_task_success(taskToken=body["token"], output=json.dumps({"approved": True}))
    else:
        sfn.send_task_failure(taskToken=body["token"], error="Declined", cause="not this time")
    done = _finished(runtime, started["executionArn"])
    if approved:
        assert (done["status"], json.loads(done["output"])) == ("SUCCEEDED", {"approved": True})
    else:
        assert (done["status"], done["error"]) == ("FAILED", "Declined"), done


def test_sdk_integration_tasks_call_as_the_role_each_call_decided_on_its_own(runtime: Runtime) -> None:
    runtime.client("dynamodb").put_item(
        TableName="sfn-orders", Item={"id": {"S": "s-1"}, "total": {"N": "42"}}
    )
    done = _run(runtime, "copy", {"id": "s-1"})
    assert done["status"] == "FAILED" and "not authorized to perform: dynamodb:PutItem" in done["cause"], done
    sfn = aws_client(runtime, "stepfunctions")
    events = sfn.get_execution_history(executionArn=done["executionArn"])["events"]
    outcomes = [e["type"] for e in events if e["type"] in ("TaskSucceeded", "TaskFailed")]
    assert outcomes == ["TaskSucceeded", "TaskFailed"]  # the read was allowed, the write denied
    assert "Item" not in runtime.client("dynamodb").get_item(
        TableName="sfn-orders", Key={"id": {"S": "copy"}}
    )


def _stored(runtime: Runtime, order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def stored() -> bool:
        key = {"id": {"S": order_id}}
        found.update(runtime.client("dynamodb").get_item(TableName="sfn-orders", Key=key).get("Item", {}))
        return bool(found)

    eventually(stored, timeout_s=30, what=f"order {order_id} stored by an execution")
    return found


def test_a_rule_and_a_schedule_start_executions_with_their_target_role(runtime: Runtime) -> None:
    detail = json.dumps({"id": "o-6", "qty": 3})
    aws_client(runtime, "events").put_events(
        Entries=[{"Source": "shop.cart", "DetailType": "d", "Detail": detail}]
    )
    assert _stored(runtime, "o-6")["total"] == {"N": "9"}
    assert runtime.console.fire("nightly-checkout")["targets"] == 1
    assert _stored(runtime, "o-nightly")["total"] == {"N": "21"}


def test_a_role_step_functions_may_not_assume_is_refused_at_deploy(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    lambda_trust = {
        "Statement": [{**STATES_TRUST["Statement"][0], "Principal": {"Service": "lambda.amazonaws.com"}}]
    }
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["MachineRole"]["Properties"]["AssumeRolePolicyDocument"] = lambda_trust
    assets = {"asset.price": PRICE, "asset.starter": STARTER}
    refused = pytest.raises(TemplateError, match=r"Step Functions cannot assume role .*Sfn-MachineRole")
    with refused, running_stack(tmp_path_factory, "Sfn", template, assets):
        pass
