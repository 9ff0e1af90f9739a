"""The single DynamoDB table, built from THE key design in `shared/table.py`.

Keys, attribute types, GSIs and their projections all come from
`shared.table` (`TABLE_KEYS`, `GSIS`, `table_schema()`, `TTL_ATTRIBUTE`), the
same definition the local server and the tests create their tables from;
nothing here restates an index.

The table's stream (new and old images) feeds the aggregator function, which
folds events into the cells and budget spend (SPEC 13).

Encryption: the AWS managed KMS key (`aws/dynamodb`). Items are usage counts,
costs and SHA-256 hashes of API keys (never the keys), so the table gains
nothing from a key policy of its own, while a customer managed key would cost
a monthly fee and a `kms:Decrypt` grant for every function and for every
operator who runs `aiusage keys create` against the table. Every read and
write is still KMS-encrypted at rest and shows up in CloudTrail.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from shared import table as schema

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}


class UsageTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        definition = schema.table_schema("unused")
        types = {a["AttributeName"]: _TYPES[a["AttributeType"]] for a in definition["AttributeDefinitions"]}
        projections = {g["IndexName"]: g["Projection"]["ProjectionType"] for g in definition["GlobalSecondaryIndexes"]}

        def attribute(name: str) -> dynamodb.Attribute:
            return dynamodb.Attribute(name=name, type=types[name])

        pk, sk = schema.TABLE_KEYS
        self.table = dynamodb.Table(
            self, "Table",
            partition_key=attribute(pk),
            sort_key=attribute(sk),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # The aggregator follows the event stream (shared/aggregation.py, infra/constructs/aggregation.py).
            stream=dynamodb.StreamViewType(schema.STREAM_VIEW_TYPE),
        )
        for gsi in schema.GSIS:
            self.table.add_global_secondary_index(
                index_name=gsi.name,
                partition_key=attribute(gsi.partition_key),
                sort_key=attribute(gsi.sort_key),
                projection_type=dynamodb.ProjectionType(projections[gsi.name]),
            )

    @property
    def index_arn(self) -> str:
        """Every GSI of this table (`<table ARN>/index/*`), for Query on the indexes."""
        return f"{self.table.table_arn}/index/*"
