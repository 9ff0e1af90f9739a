"""The aiusage stack: one construct per concern, wired together here and nowhere else."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.bundling import Asset
from infra.config import StackConfig
from infra.constructs.aggregation import ITERATOR_AGE_ALARM, Aggregation
from infra.constructs.alerts import Alerts
from infra.constructs.dashboard import Dashboard
from infra.constructs.functions import Functions
from infra.constructs.http_api import HttpApi
from infra.constructs.schedules import ReportSchedules
from infra.constructs.table import UsageTable


class AIUsageStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, asset: Asset,
                 routes: Mapping[str, str], **kwargs) -> None:
        super().__init__(scope, construct_id, description="aiusage: AI usage and cost ledger", **kwargs)
        Tags.of(self).add("project", "aiusage")
        Tags.of(self).add("stage", config.stage)

        self.table = UsageTable(self, "Usage")
        self.alerts = Alerts(self, "Alerts", config=config)
        self.functions = Functions(self, "Functions", config=config, asset=asset, table=self.table,
                                   topic=self.alerts.topic, topic_key=self.alerts.key)
        self.alerts.subscribe_notifier(self.functions.notifier, self.functions.dead_letter_queues["Notifier"])
        self.http_api = HttpApi(self, "Http", config=config, functions=self.functions, routes=routes)
        self.schedules = ReportSchedules(self, "Schedules", function=self.functions.reports,
                                         dead_letter_queue=self.functions.dead_letter_queues["Reports"])
        self.aggregation = Aggregation(self, "Aggregation", function=self.functions.aggregator, table=self.table,
                                       dead_letter_queue=self.functions.dead_letter_queues["Aggregator"])
        self.alerts.add_alarms(functions=self.functions.all, api=self.http_api.api,
                               dead_letter_queues={**self.functions.dead_letter_queues,
                                                   "StreamFailures": self.aggregation.failures})
        self.alerts.add_stream_alarm(self.aggregation.iterator_age, ITERATOR_AGE_ALARM)
        self.dashboard = Dashboard(self, "Monitoring", config=config, functions=self.functions.all,
                                   api=self.http_api.api)

        CfnOutput(self, "ApiUrl", value=self.http_api.url, description="Base URL of the HTTP API")
        CfnOutput(self, "TableName", value=self.table.table.table_name,
                  description="DynamoDB table (TABLE_NAME for `aiusage keys create`)")
        CfnOutput(self, "AlertsTopicArn", value=self.alerts.topic.topic_arn, description="Alerts SNS topic")
