"""What the synthesized aiusage stack must be: table, functions and roles, routes, schedules, alerts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from shared import table as schema

pytestmark = pytest.mark.infra

FUNCTIONS = ("Query", "Ingest", "Admin", "Authorizer", "Reports", "Notifier", "Aggregator")
HANDLERS = {
    "Query": "functions.api.handler.lambda_handler",
    "Ingest": "functions.api.handler.lambda_handler",
    "Admin": "functions.api.handler.lambda_handler",
    "Authorizer": "functions.authorizer.handler.lambda_handler",
    "Reports": "functions.reports.handler.lambda_handler",
    "Notifier": "functions.notifier.handler.lambda_handler",
    "Aggregator": "functions.aggregator.handler.lambda_handler",
}
READ = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
DYNAMODB_ACTIONS = {
    "Query": READ,
    "Ingest": {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem"},
    "Admin": READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "Authorizer": {"dynamodb:GetItem", "dynamodb:UpdateItem"},
    "Reports": READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "Notifier": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
    "Aggregator": READ | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DescribeStream", "dynamodb:GetRecords",
                          "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
}
STREAM_READ = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"}
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
PUBLISH = {"sns:Publish", "kms:GenerateDataKey", "kms:Decrypt"}
BUDGET_ALARMS = {"cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms"}
ALL_ACTIONS = {
    "Query": LOGS | XRAY | DYNAMODB_ACTIONS["Query"],
    "Ingest": LOGS | XRAY | DYNAMODB_ACTIONS["Ingest"],
    "Admin": LOGS | XRAY | DYNAMODB_ACTIONS["Admin"] | PUBLISH | BUDGET_ALARMS,
    "Authorizer": LOGS | XRAY | DYNAMODB_ACTIONS["Authorizer"],
    "Reports": LOGS | XRAY | DYNAMODB_ACTIONS["Reports"] | PUBLISH | {"sqs:SendMessage"},
    "Notifier": LOGS | XRAY | DYNAMODB_ACTIONS["Notifier"] | {"sqs:SendMessage", "secretsmanager:GetSecretValue"},
    "Aggregator": LOGS | XRAY | DYNAMODB_ACTIONS["Aggregator"] | PUBLISH | {"sqs:SendMessage", "sqs:GetQueueAttributes",
                                                                           "sqs:GetQueueUrl"},
}
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                 "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete", "sns:Publish"}


# --- helpers ---------------------------------------------------------------------------------

def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _fn_id(synth, name: str) -> str:
    return synth.logical_id(getattr(synth.stack.functions, name.lower()))


def _statements(synth, name: str) -> list[dict[str, Any]]:
    """Every policy statement attached to the role of function `name`."""
    fn = synth.resources[_fn_id(synth, name)]
    role_id = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    role = synth.resources[role_id]
    statements = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in synth.of_type("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    return {a for s in statements if s["Effect"] == "Allow" for a in _list(s["Action"])}


def _table_id(synth) -> str:
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    return table_id


# --- table -----------------------------------------------------------------------------------

def test_table_keys_and_gsis_come_from_shared_table(synth):
    table = synth.resources[_table_id(synth)]["Properties"]
    expected = schema.table_schema("any")
    assert table["KeySchema"] == [{"AttributeName": schema.TABLE_KEYS[0], "KeyType": "HASH"},
                                  {"AttributeName": schema.TABLE_KEYS[1], "KeyType": "RANGE"}]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == \
        sorted(expected["AttributeDefinitions"], key=lambda a: a["AttributeName"])
    assert table["GlobalSecondaryIndexes"] == expected["GlobalSecondaryIndexes"]
    # and, index by index, the dataclasses of shared/table.py
    assert [(g["IndexName"], g["KeySchema"][0]["AttributeName"], g["KeySchema"][1]["AttributeName"])
            for g in table["GlobalSecondaryIndexes"]] == [(g.name, g.partition_key, g.sort_key) for g in schema.GSIS]
    assert {g["Projection"]["ProjectionType"] for g in table["GlobalSecondaryIndexes"]} == {"ALL"}


def test_table_is_protected_encrypted_on_demand_with_ttl(synth):
    resource = synth.resources[_table_id(synth)]
    table = resource["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["DeletionProtectionEnabled"] is True
    assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert table["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    # AWS managed KMS key: SSE on, no customer key to grant
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert "KMSMasterKeyId" not in table["SSESpecification"]


# --- functions -------------------------------------------------------------------------------

def test_functions_runtime_architecture_tracing_logs(synth):
    functions = synth.of_type("AWS::Lambda::Function")
    assert len(functions) == len(FUNCTIONS)
    log_groups = synth.of_type("AWS::Logs::LogGroup")
    for name in FUNCTIONS:
        props = synth.resources[_fn_id(synth, name)]["Properties"]
        assert props["Runtime"] == "python3.13", name
        assert props["Architectures"] == ["arm64"], name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert props["Handler"] == HANDLERS[name], name
        assert 128 < props["MemorySize"] <= 2048 and 1 <= props["Timeout"] <= 300, name
        log_group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_groups[log_group_id]["Properties"]["RetentionInDays"] == 30, name
    api_timeouts = {synth.resources[_fn_id(synth, n)]["Properties"]["Timeout"] for n in ("Query", "Ingest", "Admin")}
    assert max(api_timeouts) < 30  # API Gateway's integration timeout


def test_functions_share_one_asset(synth):
    keys = {f["Properties"]["Code"]["S3Key"] for f in synth.of_type("AWS::Lambda::Function").values()}
    assert len(keys) == 1


def test_function_environment(synth):
    from shared.config import Settings

    known = {name.upper() for name in Settings.model_fields} | {
        "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
    topic_ref = {"Ref": synth.logical_id(synth.stack.alerts.topic)}
    for name in FUNCTIONS:
        env = synth.resources[_fn_id(synth, name)]["Properties"]["Environment"]["Variables"]
        assert set(env) <= known, f"{name} sets variables shared/config.py does not read: {set(env) - known}"
        assert env["TABLE_NAME"] == {"Ref": _table_id(synth)}
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "AIUsage"
        assert env["POWERTOOLS_SERVICE_NAME"] and env["LOG_LEVEL"] == "INFO"
        assert env["STAGE"] == "test" and env["RAW_RETENTION_DAYS"] == "400"
        assert (env.get("ALERTS_TOPIC_ARN") == topic_ref) == (name in ("Admin", "Reports", "Aggregator")), name
    aggregator = synth.resources[_fn_id(synth, "Aggregator")]["Properties"]["Environment"]["Variables"]
    assert aggregator["BACKFILL_SETTLE_SECONDS"] == "2"  # budget backfills wait for the service GSI
    admin = synth.resources[_fn_id(synth, "Admin")]["Properties"]["Environment"]["Variables"]
    assert admin["BUDGET_ALARM_PREFIX"] == "aiusage-test/budget/"  # the names its role may manage
    authorizer = synth.resources[_fn_id(synth, "Authorizer")]["Properties"]["Environment"]["Variables"]
    assert authorizer["GITHUB_OIDC_AUDIENCE"] == "aiusage"
    assert authorizer["GITHUB_OIDC_ALLOWLIST"] == "octo-org,other-org/one-repo"
    assert authorizer["GITHUB_JWKS_URL"].startswith("https://token.actions.githubusercontent.com/")
    notifier = synth.resources[_fn_id(synth, "Notifier")]["Properties"]["Environment"]["Variables"]
    assert "secret:aiusage/test/slack-webhook" in json.dumps(notifier["WEBHOOK_SECRET_ARN"])


# --- roles -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FUNCTIONS)
def test_role_has_exactly_the_actions_it_needs(synth, name):
    assert _actions(_statements(synth, name)) == ALL_ACTIONS[name]
    dynamodb = {a for a in _actions(_statements(synth, name)) if a.startswith("dynamodb:")}
    assert dynamodb == DYNAMODB_ACTIONS[name]


def test_query_role_cannot_write(synth):
    actions = _actions(_statements(synth, "Query"))
    assert not actions & WRITE_ACTIONS
    assert actions <= READ | LOGS | XRAY


def test_no_wildcard_actions_no_managed_policies(synth):
    for role in synth.of_type("AWS::IAM::Role").values():
        assert not role["Properties"].get("ManagedPolicyArns")
    for policy in synth.of_type("AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in _list(statement["Action"]):
                assert "*" not in action, action  # not dynamodb:*, not kms:GenerateDataKey*, not *


@pytest.mark.parametrize("name", FUNCTIONS)
def test_resources_are_arns_not_star(synth, name):
    table_arn = {"Fn::GetAtt": [_table_id(synth), "Arn"]}
    index_arn = {"Fn::Join": ["", [table_arn, "/index/*"]]}
    stack = synth.stack
    for statement in _statements(synth, name):
        actions = set(_list(statement["Action"]))
        resources = _list(statement["Resource"])
        if actions <= XRAY or actions == {"dynamodb:ListStreams"}:
            assert resources == ["*"]  # X-Ray and ListStreams have no resource-level permissions
            continue
        if actions <= STREAM_READ:
            assert name == "Aggregator" and resources == [{"Fn::GetAtt": [_table_id(synth), "StreamArn"]}]
            continue
        assert "*" not in resources, statement
        if any(a.startswith("dynamodb:") for a in actions):
            assert resources in ([table_arn], [index_arn]), statement
            if resources == [index_arn]:
                assert actions == {"dynamodb:Query"}
            if "dynamodb:DeleteItem" in actions and name != "Admin":
                assert actions == {"dynamodb:DeleteItem"} and "Condition" in statement, statement
        elif actions == {"sns:Publish"}:
            assert resources == [{"Ref": synth.logical_id(stack.alerts.topic)}]
        elif actions == {"kms:GenerateDataKey", "kms:Decrypt"}:
            assert resources == [{"Fn::GetAtt": [synth.logical_id(stack.alerts.key), "Arn"]}]
        elif actions == {"sqs:SendMessage"}:
            assert resources == [{"Fn::GetAtt": [synth.logical_id(stack.functions.dead_letter_queues[name]), "Arn"]}]
        elif actions == {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}:
            assert name == "Aggregator"  # the stream mapping's on-failure destination
            assert resources == [{"Fn::GetAtt": [synth.logical_id(stack.aggregation.failures), "Arn"]}]
        elif actions == LOGS:
            assert resources == [{"Fn::GetAtt": [synth.logical_id(stack.functions.log_groups[name]), "Arn"]}]
        elif actions == BUDGET_ALARMS:
            assert name == "Admin"
            (arn,) = resources
            assert arn["Fn::Join"][1][-1] == ":alarm:aiusage-test/budget/*", arn
            assert {"Ref": "AWS::AccountId"} in arn["Fn::Join"][1] and {"Ref": "AWS::Region"} in arn["Fn::Join"][1]
        elif actions == {"secretsmanager:GetSecretValue"}:
            (arn,) = resources
            assert json.dumps(arn).endswith(':secret:aiusage/test/slack-webhook-??????"]]}')
        else:
            pytest.fail(f"unexpected statement {statement}")


def test_reports_deletes_only_its_idempotency_records(synth):
    from functions.reports.handler import IDEMPOTENCY_PARTITION

    (delete,) = [s for s in _statements(synth, "Reports") if "dynamodb:DeleteItem" in _list(s["Action"])]
    assert _list(delete["Action"]) == ["dynamodb:DeleteItem"]
    assert delete["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [IDEMPOTENCY_PARTITION]}}


def test_index_access_only_where_the_gsis_are_read(synth):
    for name in FUNCTIONS:
        has_index = any(json.dumps(s["Resource"]).endswith('"/index/*"]]}') for s in _statements(synth, name))
        assert has_index == (name in ("Query", "Admin", "Reports", "Aggregator")), name


# --- HTTP API --------------------------------------------------------------------------------

def test_every_route_of_access_routes_exists_with_its_function_and_authorizer(synth):
    from functions.api.access import ROUTES

    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in synth.of_type("AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == set(ROUTES) | {"$default"}
    integrations = synth.of_type("AWS::ApiGatewayV2::Integration")
    (authorizer_id,) = synth.of_type("AWS::ApiGatewayV2::Authorizer")
    expected_fn = {"public": "Query", "usage:read": "Query", "usage:write": "Ingest", "admin": "Admin"}
    for route_key, scope in ROUTES.items():
        route = routes[route_key]
        target = route["Target"]["Fn::Join"][1][1]["Ref"]
        integration = integrations[target]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
        assert integration["IntegrationUri"] == {"Fn::GetAtt": [_fn_id(synth, expected_fn[scope]), "Arn"]}, route_key
        if scope == "public":
            assert route.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in route, route_key
        else:
            assert route["AuthorizationType"] == "CUSTOM", route_key
            assert route["AuthorizerId"] == {"Ref": authorizer_id}, route_key


def test_authorizer_is_simple_and_sees_every_request(synth):
    """No identity source and no cache: API Gateway never answers a missing header itself (SPEC 3's shape),
    and a revoked key stops working at once."""
    (authorizer,) = synth.of_type("AWS::ApiGatewayV2::Authorizer").values()
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST"
    assert props["EnableSimpleResponses"] is True
    assert props["AuthorizerPayloadFormatVersion"] == "2.0"
    assert props.get("IdentitySource", []) == []
    assert props["AuthorizerResultTtlInSeconds"] == 0
    assert _fn_id(synth, "Authorizer") in json.dumps(props["AuthorizerUri"])


def test_default_route_answers_unmatched_requests_from_the_query_function_without_authorizer(synth):
    (default,) = [r["Properties"] for r in synth.of_type("AWS::ApiGatewayV2::Route").values()
                  if r["Properties"]["RouteKey"] == "$default"]
    assert default.get("AuthorizationType", "NONE") == "NONE" and "AuthorizerId" not in default
    integration = synth.of_type("AWS::ApiGatewayV2::Integration")[default["Target"]["Fn::Join"][1][1]["Ref"]]
    assert integration["Properties"]["IntegrationUri"] == {"Fn::GetAtt": [_fn_id(synth, "Query"), "Arn"]}


def test_stage_logs_json_and_throttles(synth):
    (stage,) = synth.of_type("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    access = props["AccessLogSettings"]
    fields = json.loads(access["Format"])
    assert fields["requestId"] == "$context.requestId" and fields["status"] == "$context.status"
    assert fields["routeKey"] == "$context.routeKey"
    log_group_id = access["DestinationArn"]["Fn::GetAtt"][0]
    assert synth.resources[log_group_id]["Properties"]["RetentionInDays"] == 30


def test_new_routes_are_picked_up_from_the_dict(tmp_path):
    """A route added to ROUTES needs no infra change: it appears with the function of its scope."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from functions.api.access import ROUTES
    from infra import bundling
    from infra.config import StackConfig
    from infra.stack import AIUsageStack

    routes = {**ROUTES, "GET /made/up/{thing_id}": "usage:read", "DELETE /made/up/{thing_id}": "admin"}
    app = App(outdir=str(tmp_path))
    stack = AIUsageStack(app, "routes-test", config=StackConfig(bundling="stub"), asset=bundling.build_asset("stub"),
                         routes=routes)
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ApiGatewayV2::Route", len(routes) + 1)  # and $default
    resources = template.to_json()["Resources"]
    for route_key, function in (("DELETE /made/up/{thing_id}", stack.functions.admin),
                                ("GET /made/up/{thing_id}", stack.functions.query)):
        (props,) = [r["Properties"] for r in resources.values()
                    if r["Type"] == "AWS::ApiGatewayV2::Route" and r["Properties"]["RouteKey"] == route_key]
        assert props["AuthorizationType"] == "CUSTOM"
        integration = resources[props["Target"]["Fn::Join"][1][1]["Ref"]]["Properties"]
        assert integration["IntegrationUri"] == {
            "Fn::GetAtt": [stack.get_logical_id(function.node.default_child), "Arn"]}


def test_unknown_scope_fails_the_synth(synth):
    with pytest.raises(ValueError, match="no function serves routes of scope"):
        synth.stack.functions.for_scope("superuser")


# --- schedules -------------------------------------------------------------------------------

def test_report_schedules(synth):
    reports_arn = {"Fn::GetAtt": [_fn_id(synth, "Reports"), "Arn"]}
    rules = {k: r for k, r in synth.of_type("AWS::Events::Rule").items()
             if r["Properties"]["Targets"][0]["Arn"] == reports_arn}
    expected = {"daily": "cron(0 6 * * ? *)", "weekly": "cron(0 6 ? * MON *)", "monthly": "cron(0 6 1 * ? *)"}
    dlq_arn = {"Fn::GetAtt": [synth.logical_id(synth.stack.functions.dead_letter_queues["Reports"]), "Arn"]}
    seen = {}
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert target["Arn"] == reports_arn
        assert target["DeadLetterConfig"] == {"Arn": dlq_arn}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        seen[json.loads(target["Input"])["kind"]] = rule["Properties"]["ScheduleExpression"]
    assert seen == expected


# --- alerts ----------------------------------------------------------------------------------

def test_topic_is_kms_encrypted_and_tls_only(synth, template):
    stack = synth.stack
    key_id = synth.logical_id(stack.alerts.key)
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    template.has_resource_properties("AWS::KMS::Key", {
        "EnableKeyRotation": True,
        "KeyPolicy": {"Statement": Match.array_with([Match.object_like({
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": Match.array_with(["kms:Decrypt"])})])},
    })
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
        Match.object_like({"Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"},
                           "Action": "sns:Publish"}),
    ])}})


def test_topic_subscribers(synth):
    topic = {"Ref": synth.logical_id(synth.stack.alerts.topic)}
    subs = [s["Properties"] for s in synth.of_type("AWS::SNS::Subscription").values()]
    assert {s["Endpoint"] for s in subs if s["Protocol"] == "email"} == {"ops@example.com", "finance@example.com"}
    (lambda_sub,) = [s for s in subs if s["Protocol"] == "lambda"]
    assert lambda_sub["Endpoint"] == {"Fn::GetAtt": [_fn_id(synth, "Notifier"), "Arn"]}
    notifier_dlq = synth.logical_id(synth.stack.functions.dead_letter_queues["Notifier"])
    assert lambda_sub["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [notifier_dlq, "Arn"]}}
    assert all(s["TopicArn"] == topic for s in subs)


def test_dead_letter_queues_encrypted_tls_only_and_wired(synth):
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(queues) == 4  # the reports', notifier's and aggregator's, and the stream's on-failure destination
    for queue_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props
        (policy,) = [p for p in synth.of_type("AWS::SQS::QueuePolicy").values()
                     if {"Ref": queue_id} in p["Properties"]["Queues"]]
        assert any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                   for s in policy["Properties"]["PolicyDocument"]["Statement"])
    for name in ("Reports", "Notifier", "Aggregator"):
        fn = synth.resources[_fn_id(synth, name)]["Properties"]
        dlq = synth.logical_id(synth.stack.functions.dead_letter_queues[name])
        assert fn["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}
    for name in ("Query", "Ingest", "Admin", "Authorizer"):  # synchronous: nothing to dead-letter
        assert "DeadLetterConfig" not in synth.resources[_fn_id(synth, name)]["Properties"]


def _alarms(synth) -> list[dict[str, Any]]:
    return [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]


def test_every_alarm_notifies_the_topic(synth):
    topic = [{"Ref": synth.logical_id(synth.stack.alerts.topic)}]
    alarms = _alarms(synth)
    assert alarms
    for alarm in alarms:
        assert alarm["AlarmActions"] == topic, alarm["AlarmName"]
        assert alarm["OKActions"] == topic, alarm["AlarmName"]


def test_budget_alarms(synth):
    budget = [a for a in _alarms(synth) if a.get("MetricName") == "BudgetUtilization"]
    got = {(a["Dimensions"][0]["Value"], a["Threshold"]) for a in budget}
    assert got == {("anthropic-monthly", 50), ("anthropic-monthly", 80), ("anthropic-monthly", 100), ("global", 90)}
    for alarm in budget:
        assert alarm["Namespace"] == "AIUsage"
        assert [d["Name"] for d in alarm["Dimensions"]] == ["BudgetId"]
        assert alarm["Statistic"] == "Maximum" and alarm["Period"] == 300
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["TreatMissingData"] == "ignore"  # keeps ALARM between recordings instead of flapping to OK


def test_any_budget_past_its_limit_alarms_whatever_budgets_exist(synth):
    """The stack's own budget alarm: the highest BudgetUtilization of all budgets (each budget's own alarms are
    created at run time by the admin function, see test_role_has_exactly_the_actions_it_needs)."""
    (alarm,) = [a for a in _alarms(synth) if a["AlarmName"] == "aiusage-test-budget-exceeded"]
    (query,) = alarm["Metrics"]
    assert query["Expression"] == 'SELECT MAX(BudgetUtilization) FROM SCHEMA("AIUsage", BudgetId)'
    assert query["Period"] == 300 and query["ReturnData"] is True
    assert alarm["Threshold"] == 100 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "ignore" and alarm["EvaluationPeriods"] == 1


def test_daily_cost_alarm(synth):
    (alarm,) = [a for a in _alarms(synth) if a.get("MetricName") == "CostUSD"]
    assert alarm["Namespace"] == "AIUsage" and "Dimensions" not in alarm
    assert alarm["Statistic"] == "Sum" and alarm["Period"] == 86400
    assert alarm["Threshold"] == 250 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_function_api_and_dlq_alarms(synth):
    alarms = _alarms(synth)
    for metric in ("Errors", "Throttles"):
        watched = {a["Dimensions"][0]["Value"]["Ref"] for a in alarms
                   if a.get("MetricName") == metric and a["Namespace"] == "AWS/Lambda"}
        assert watched == {_fn_id(synth, n) for n in FUNCTIONS}, metric
    for alarm in (a for a in alarms if a.get("MetricName") in ("Errors", "Throttles")):
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    (api5xx,) = [a for a in alarms if a.get("MetricName") == "5xx"]
    assert api5xx["Namespace"] == "AWS/ApiGateway"
    assert api5xx["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": synth.logical_id(synth.stack.http_api.api)}}]
    dlq = [a for a in alarms if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert {a["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for a in dlq} == {
        synth.logical_id(q) for q in [*synth.stack.functions.dead_letter_queues.values(),
                                      synth.stack.aggregation.failures]}
    for alarm in dlq:
        assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_dashboard_shows_cost_tokens_budgets_errors_latency(synth):
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in ("CostUSD", "InputTokens", "OutputTokens", "BudgetUtilization", "Errors", "Latency",
                   "{AIUsage,service}", "{AIUsage,BudgetId}"):
        assert needle in body, needle


def test_outputs(synth):
    outputs = synth.template["Outputs"]
    assert outputs["TableName"]["Value"] == {"Ref": _table_id(synth)}
    assert "execute-api" in json.dumps(outputs["ApiUrl"]["Value"])
    assert outputs["AlertsTopicArn"]["Value"] == {"Ref": synth.logical_id(synth.stack.alerts.topic)}


# --- aggregation (SPEC 13) ------------------------------------------------------------------------

def test_table_stream_feeds_the_aggregator_with_event_records_only(synth):
    table = synth.resources[_table_id(synth)]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": schema.STREAM_VIEW_TYPE} == {
        "StreamViewType": "NEW_AND_OLD_IMAGES"}
    (mapping,) = synth.of_type("AWS::Lambda::EventSourceMapping").values()
    props = mapping["Properties"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [_table_id(synth), "StreamArn"]}
    assert props["FunctionName"] == {"Ref": _fn_id(synth, "Aggregator")}
    assert [json.loads(f["Pattern"]) for f in props["FilterCriteria"]["Filters"]] == list(schema.AGGREGATOR_FILTERS)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True and props["ParallelizationFactor"] == 1
    assert (props["BatchSize"], props["MaximumBatchingWindowInSeconds"]) == (1000, 1)
    assert props["TumblingWindowInSeconds"] > 0  # what puts the shard id in every event
    assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": [synth.logical_id(synth.stack.aggregation.failures), "Arn"]}


def test_aggregator_ticks_every_minute_and_its_lag_is_alarmed(synth):
    aggregator_arn = {"Fn::GetAtt": [_fn_id(synth, "Aggregator"), "Arn"]}
    (tick,) = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
               if r["Properties"]["Targets"][0]["Arn"] == aggregator_arn]
    assert tick["ScheduleExpression"] == "rate(1 minute)"
    dlq = synth.logical_id(synth.stack.functions.dead_letter_queues["Aggregator"])
    assert tick["Targets"][0]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
    (age,) = [a for a in _alarms(synth) if a.get("MetricName") == "IteratorAge"]
    assert age["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": _fn_id(synth, "Aggregator")}}]
    assert (age["Threshold"], age["ComparisonOperator"]) == (60_000, "GreaterThanThreshold")


def test_ingest_role_puts_event_items_and_nothing_else(synth):
    writes = [s for s in _statements(synth, "Ingest") if set(_list(s["Action"])) & WRITE_ACTIONS]
    (put,) = writes
    assert _list(put["Action"]) == ["dynamodb:PutItem"]
    assert put["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{schema.EVENT_PREFIX}*"]}}
