"""The Lambda functions, each with its own least-privilege role, log group and settings.

All seven run from ONE asset (`infra/bundling.py`): the runtime dependencies plus
`shared/` and `functions/`. The three API functions run the same handler module
and differ only in their role; API Gateway sends each route to the function its
scope calls for (`for_scope`), so a read-only route lands on a function that
cannot write even if the code had a bug.

Role by role (DynamoDB actions on the table ARN; `Query` also on
`<table ARN>/index/*` where a function reads the GSIs):

| function   | DynamoDB                                                  | also                               |
|------------|-----------------------------------------------------------|------------------------------------|
| query      | GetItem BatchGetItem Query ConditionCheckItem (+ index)   | -                                  |
| ingest     | GetItem Query; PutItem only of event items (`EVENT#...`,  | -                                  |
|            | `dynamodb:LeadingKeys`): it writes events and nothing else|                                    |
| admin      | read + PutItem UpdateItem DeleteItem (+ index)            | sns:Publish (alerts); cloudwatch:  |
|            |                                                           | Put/Delete/DescribeAlarms on the   |
|            |                                                           | budgets' alarms (`<stack>/budget/*`)|
| aggregator | read + PutItem UpdateItem (+ index); the table's stream   | sns:Publish (alerts)               |
| authorizer | GetItem UpdateItem                                        | -                                  |
| reports    | read + PutItem UpdateItem (+ index); DeleteItem only in   | sns:Publish (alerts)               |
|            | its idempotency partition (`dynamodb:LeadingKeys`)        |                                    |
| notifier   | GetItem PutItem UpdateItem                                | secretsmanager:GetSecretValue on   |
|            |                                                           | the configured webhook secret only |

Publishing to the KMS-encrypted topic also needs `kms:GenerateDataKey` and
`kms:Decrypt` on the topic's key. Every role may write its own log group
(`logs:CreateLogStream`, `logs:PutLogEvents`); CDK adds the X-Ray actions for
active tracing and `sqs:SendMessage` on the dead-letter queue where there is one.
DynamoDB transactions have no IAM action of their own: `TransactWriteItems`
is authorized item by item with the Put/Update/Delete/ConditionCheck actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import ArnFormat, AssetHashType, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import nag
from infra.bundling import Asset
from infra.config import StackConfig
from infra.constructs import log_retention
from infra.constructs.table import UsageTable
from shared import table as schema

API_HANDLER = "functions.api.handler.lambda_handler"
AUTHORIZER_HANDLER = "functions.authorizer.handler.lambda_handler"
REPORTS_HANDLER = "functions.reports.handler.lambda_handler"
NOTIFIER_HANDLER = "functions.notifier.handler.lambda_handler"
AGGREGATOR_HANDLER = "functions.aggregator.handler.lambda_handler"
# The reports function's Powertools idempotency records (PK `IDEMPOTENCY#<function>`, shared/table.py).
REPORTS_IDEMPOTENCY_PARTITION = f"{schema.IDEMPOTENCY_PARTITION_PREFIX}reports"
GITHUB_JWKS_URL = "https://token.actions.githubusercontent.com/.well-known/jwks"
METRICS_NAMESPACE = "AIUsage"
POWERTOOLS_SERVICE = "aiusage"

READ = ("dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem")
PUT_UPDATE = ("dynamodb:PutItem", "dynamodb:UpdateItem")
# The ingest function reads prices (and an event it could not overwrite) and puts events.
INGEST_READ = ("dynamodb:GetItem", "dynamodb:Query")
DELETE = ("dynamodb:DeleteItem",)
PUBLISH_KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")
BUDGET_ALARM_ACTIONS = ("cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms")

SYNC_INVOCATION_REASON = (
    "Invoked synchronously by API Gateway (integration or authorizer): the caller receives the error, so there is "
    "no asynchronous event to dead-letter or to send to an on-failure destination.")


@dataclass(frozen=True)
class FunctionSpec:
    """What makes one function different from the others."""

    name: str
    handler: str
    description: str
    memory_mb: int
    timeout: Duration
    table_actions: tuple[str, ...]
    reads_indexes: bool = False
    publishes_alerts: bool = False
    asynchronous: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    # Partitions (PK values) whose items the function may delete, and nothing else.
    delete_partitions: tuple[str, ...] = ()
    # Partition key patterns (IAM StringLike) of the only items the function may put.
    put_partitions: tuple[str, ...] = ()


class Functions(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, asset: Asset,
                 table: UsageTable, topic: sns.ITopic, topic_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._table = table
        self._topic = topic
        self._topic_key = topic_key
        self.code = lambda_.Code.from_asset(str(asset.path), asset_hash=asset.hash,
                                            asset_hash_type=AssetHashType.CUSTOM)
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.dead_letter_queues: dict[str, sqs.Queue] = {}

        seconds29 = Duration.seconds(29)  # API Gateway gives an integration 30 s
        self.query = self._function(FunctionSpec(
            "Query", API_HANDLER, "aiusage HTTP API: read-only and public routes (cannot write)",
            1024, seconds29, READ, reads_indexes=True))
        self.ingest = self._function(FunctionSpec(
            "Ingest", API_HANDLER, "aiusage HTTP API: usage:write routes (POST /ai_usage)",
            1024, seconds29, INGEST_READ, put_partitions=(f"{schema.EVENT_PREFIX}*",)))
        self.admin = self._function(FunctionSpec(
            "Admin", API_HANDLER, "aiusage HTTP API: admin routes (budgets, prices, keys, repricing, reports)",
            1024, seconds29, READ + PUT_UPDATE + DELETE, reads_indexes=True, publishes_alerts=True,
            environment={"BUDGET_ALARM_PREFIX": self.budget_alarm_prefix}))
        self._allow_budget_alarms(self.admin.role)
        self.aggregator = self._function(FunctionSpec(
            "Aggregator", AGGREGATOR_HANDLER,
            "aiusage aggregator: folds the event stream into totals and budget spend, runs budget backfills",
            1024, Duration.minutes(5), READ + PUT_UPDATE, reads_indexes=True, publishes_alerts=True,
            asynchronous=True,
            # A budget backfill reads the service GSI, which DynamoDB updates eventually: let it settle.
            environment={"BACKFILL_SETTLE_SECONDS": "2"}))
        self.authorizer = self._function(FunctionSpec(
            "Authorizer", AUTHORIZER_HANDLER, "aiusage HTTP API Lambda authorizer: API keys and GitHub OIDC",
            512, Duration.seconds(10), ("dynamodb:GetItem", "dynamodb:UpdateItem"),
            environment={
                "GITHUB_OIDC_AUDIENCE": config.github_oidc_audience,
                "GITHUB_OIDC_ALLOWLIST": ",".join(config.github_oidc_allowlist),
                "GITHUB_JWKS_URL": GITHUB_JWKS_URL,
            }))
        self.reports = self._function(FunctionSpec(
            "Reports", REPORTS_HANDLER, "aiusage scheduled reports (daily, weekly, monthly)",
            1024, Duration.minutes(5), READ + PUT_UPDATE, reads_indexes=True, publishes_alerts=True,
            asynchronous=True,
            # Powertools idempotency deletes the record of a failed run so that its retry starts over.
            delete_partitions=(REPORTS_IDEMPOTENCY_PARTITION,)))
        notifier_env = {}
        if config.webhook_secret_name:
            notifier_env["WEBHOOK_SECRET_ARN"] = self._webhook_secret_arn(partial=True)
        self.notifier = self._function(FunctionSpec(
            "Notifier", NOTIFIER_HANDLER, "aiusage alarm notifications: stores alarms, forwards them to a webhook",
            256, Duration.seconds(30), ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
            asynchronous=True, environment=notifier_env))
        if config.webhook_secret_name:
            self.notifier.role.add_to_principal_policy(iam.PolicyStatement(
                sid="ReadWebhookSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self._webhook_secret_arn(partial=False)],
            ))

    # --- the budgets' CloudWatch alarms (shared/budget_alarms.py) --------------------------

    @property
    def budget_alarm_prefix(self) -> str:
        """Every budget alarm's name starts with this; '/' cannot occur in a stage or budget id."""
        return f"{self._config.stack_name}/budget/"

    def _allow_budget_alarms(self, role: iam.IRole | None) -> None:
        alarms = Stack.of(self).format_arn(service="cloudwatch", resource="alarm",
                                           resource_name=f"{self.budget_alarm_prefix}*",
                                           arn_format=ArnFormat.COLON_RESOURCE_NAME)
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="ManageBudgetAlarms", actions=list(BUDGET_ALARM_ACTIONS), resources=[alarms]))
        nag.acknowledge(role, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:<AWS::Region>:"
                              f"<AWS::AccountId>:alarm:{self.budget_alarm_prefix}*]",
                        "Budgets are created at run time and each gets its CloudWatch alarms then: the admin "
                        "function may create, change, list and delete only alarms named under this stack's "
                        "budget alarm prefix.")

    # --- the API functions by the scope of their routes ----------------------------------

    def for_scope(self, scope: str) -> lambda_.Function:
        """The function that serves routes of `scope` (see functions/api/access.py)."""
        by_scope = {"public": self.query, "usage:read": self.query, "usage:write": self.ingest, "admin": self.admin}
        if scope not in by_scope:
            raise ValueError(f"no function serves routes of scope {scope!r}: add it to Functions.for_scope")
        return by_scope[scope]

    @property
    def all(self) -> dict[str, lambda_.Function]:
        return {"Query": self.query, "Ingest": self.ingest, "Admin": self.admin, "Authorizer": self.authorizer,
                "Reports": self.reports, "Notifier": self.notifier, "Aggregator": self.aggregator}

    # --- building blocks ------------------------------------------------------------------

    def _function(self, spec: FunctionSpec) -> lambda_.Function:
        config = self._config
        log_group = logs.LogGroup(self, f"{spec.name}Logs", retention=log_retention(config.log_retention_days))
        self.log_groups[spec.name] = log_group
        role = iam.Role(self, f"{spec.name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                        description=f"aiusage {spec.name.lower()} function: least privilege")
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="WriteOwnLogs", actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[log_group.log_group_arn]))
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="Table", actions=list(spec.table_actions), resources=[self._table.table.table_arn]))
        if spec.put_partitions:
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="PutOwnItemsOnly", actions=["dynamodb:PutItem"], resources=[self._table.table.table_arn],
                conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(spec.put_partitions)}}))
        if spec.delete_partitions:
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="DeleteOwnPartitionsOnly", actions=list(DELETE), resources=[self._table.table.table_arn],
                conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(spec.delete_partitions)}}))
        if spec.reads_indexes:
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="QueryIndexes", actions=["dynamodb:Query"], resources=[self._table.index_arn]))
            nag.acknowledge(role, f"AwsSolutions-IAM5[Resource::<{self._logical_id(self._table.table)}.Arn>/index/*]",
                            "Query on the table's global secondary indexes: '<table ARN>/index/*' is the IAM form "
                            "for the GSIs of this one table (all defined in shared/table.py), not a wider grant.")
        environment = {
            "TABLE_NAME": self._table.table.table_name,
            "STAGE": config.stage,
            "RAW_RETENTION_DAYS": str(config.raw_retention_days),
            "POWERTOOLS_SERVICE_NAME": POWERTOOLS_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": config.log_level,
            **spec.environment,
        }
        if spec.publishes_alerts:
            environment["ALERTS_TOPIC_ARN"] = self._topic.topic_arn
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="PublishAlerts", actions=["sns:Publish"], resources=[self._topic.topic_arn]))
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="EncryptForAlertsTopic", actions=list(PUBLISH_KEY_ACTIONS), resources=[self._topic_key.key_arn]))

        dlq = None
        if spec.asynchronous:
            dlq = sqs.Queue(self, f"{spec.name}Dlq", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
                            retention_period=Duration.days(14))
            self.dead_letter_queues[spec.name] = dlq
            nag.acknowledge(dlq, "Serverless-SQSRedrivePolicy",
                            "This queue is itself a dead-letter queue; a DLQ of a DLQ would only move the problem.")

        fn = lambda_.Function(
            self, spec.name,
            description=spec.description,
            code=self.code,
            handler=spec.handler,
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            tracing=lambda_.Tracing.ACTIVE,
            role=role,
            log_group=log_group,
            environment=environment,
            dead_letter_queue=dlq,
            retry_attempts=2 if spec.asynchronous else None,
            max_event_age=Duration.hours(6) if spec.asynchronous else None,
        )
        nag.acknowledge(fn, "AwsSolutions-L1", _RUNTIME_REASON)
        nag.acknowledge(fn, "Serverless-LambdaLatestVersion", _RUNTIME_REASON)
        nag.acknowledge(role, "AwsSolutions-IAM5[Resource::*]",
                        "X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords, added by CDK for "
                        "Tracing.ACTIVE) and, for the aggregator's stream mapping, dynamodb:ListStreams support no "
                        "resource-level permissions: '*' is the only valid resource.")
        if spec.asynchronous:
            nag.acknowledge(fn, "Serverless-LambdaAsyncFailureDestination",
                            "Failed asynchronous invocations go to the function's SQS dead-letter queue "
                            "(DeadLetterConfig), which is alarmed on; one failure sink per function.")
        else:
            nag.acknowledge(fn, "Serverless-LambdaDLQ", SYNC_INVOCATION_REASON)
            nag.acknowledge(fn, "Serverless-LambdaAsyncFailureDestination", SYNC_INVOCATION_REASON)
        return fn

    def _webhook_secret_arn(self, *, partial: bool) -> str:
        name = self._config.webhook_secret_name or ""
        if name.startswith("arn:"):
            return name
        arn = Stack.of(self).format_arn(service="secretsmanager", resource="secret", resource_name=name,
                                        arn_format=ArnFormat.COLON_RESOURCE_NAME)
        # GetSecretValue accepts the ARN without the random suffix; IAM needs the suffix wildcard.
        return arn if partial else f"{arn}-??????"

    @staticmethod
    def _logical_id(table: object) -> str:
        return Stack.of(table).get_logical_id(table.node.default_child)  # type: ignore[attr-defined]


_RUNTIME_REASON = (
    "The runtime is pinned to python3.13 on purpose (SPEC 10): the asset's binary wheels (pydantic-core, "
    "cryptography) are installed for cp313/arm64 by infra/bundling.py; moving to a newer runtime is a deliberate "
    "change of PYTHON_VERSION there and of the runtime here, together.")
