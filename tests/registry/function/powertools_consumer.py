"""A Python function for the registry tests: AWS's Powertools reads each event the local trigger
delivers, with its Kafka event model (the schema metadata included) and its Kafka consumer
(JSON values with EventRecordFormat JSON; Avro values, given the schema, with SOURCE). It writes
what Powertools made of each record, one JSON line each, to RECORDS_FILE; a record Powertools
cannot read fails the invocation."""

import json
import os

from aws_lambda_powertools.utilities.kafka import SchemaConfig, kafka_consumer
from aws_lambda_powertools.utilities.parser.models import KafkaSelfManagedEventModel

if os.environ["RECORD_FORMAT"] == "JSON":
    CONFIG = SchemaConfig(value_schema_type="JSON")
else:
    CONFIG = SchemaConfig(value_schema_type="AVRO", value_schema=os.environ["AVRO_SCHEMA"])


@kafka_consumer(schema_config=CONFIG)
def _consume(records, context):
    return [(r.topic, r.offset, r.value) for r in records.records]


def handler(event, context):
    model = KafkaSelfManagedEventModel.model_validate(event)
    metadata = {
        (r.topic, r.offset): r.valueSchemaMetadata.model_dump() if r.valueSchemaMetadata else None
        for records in model.records.values()
        for r in records
    }
    with open(os.environ["RECORDS_FILE"], "a", encoding="utf-8") as f:
        for topic, offset, value in _consume(event, context):
            line = {"topic": topic, "offset": offset, "value": value, "schema": metadata[(topic, offset)]}
            f.write(json.dumps(line) + "\n")
    return {}
