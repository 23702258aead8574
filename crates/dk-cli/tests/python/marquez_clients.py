"""The official clients against `dk lineage serve`: openlineage-python sends Run, Dataset and Job
events over HTTP (plain and gzip), then marquez-python reads them back. Prints what it read as
JSON for the test to check. Arguments: the server's base URL and its token."""

import json
import sys
import uuid

import requests
from marquez_client import MarquezClient
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    documentation_job,
    error_message_run,
    nominal_time_run,
    schema_dataset,
    tags_dataset,
)
from openlineage.client.transport.http import HttpConfig, HttpTransport

base, token = sys.argv[1], sys.argv[2]
NAMESPACE = "warehouse"
SOURCE = "postgres://db:5432"


def customers():
    return InputDataset(
        namespace=SOURCE,
        name="public.customers",
        facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(name="id", type="integer"),
                    schema_dataset.SchemaDatasetFacetFields(
                        name="email", type="varchar", description="where to write"
                    ),
                ]
            ),
            "tags": tags_dataset.TagsDatasetFacet(
                tags=[
                    tags_dataset.TagsDatasetFacetFields(key="pii", value="true", field="email"),
                    tags_dataset.TagsDatasetFacetFields(key="classification", value="confidential"),
                ]
            ),
        },
    )


def clean(mode):
    lineage = column_lineage_dataset.ColumnLineageDatasetFacet(
        fields={
            "email_hash": column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=SOURCE,
                        name="public.customers",
                        field="email",
                        transformations=[
                            column_lineage_dataset.Transformation(
                                type="DIRECT", subtype="TRANSFORMATION", description="hash", masking=True
                            )
                        ],
                    )
                ]
            )
        }
    )
    schema = schema_dataset.SchemaDatasetFacet(
        fields=[schema_dataset.SchemaDatasetFacetFields(name="email_hash", type="text")]
    )
    return OutputDataset(
        namespace=SOURCE, name=f"public.clean_{mode}", facets={"schema": schema, "columnLineage": lineage}
    )


def events(mode):
    run_id = str(uuid.uuid4())
    job = Job(
        namespace=NAMESPACE,
        name=f"etl_{mode}",
        facets={"documentation": documentation_job.DocumentationJobFacet(description=f"Cleans customers ({mode})")},
    )
    nominal = nominal_time_run.NominalTimeRunFacet(nominalStartTime="2026-11-26T00:00:00Z")
    failed = error_message_run.ErrorMessageRunFacet(message="boom", programmingLanguage="python")

    def run_event(event_type, time, facets):
        return RunEvent(
            eventType=event_type,
            eventTime=time,
            run=Run(runId=run_id, facets=facets),
            job=job,
            inputs=[customers()],
            outputs=[clean(mode)],
        )

    return [
        run_event(RunState.START, "2026-11-26T10:00:00Z", {"nominalTime": nominal}),
        # No eventType: Marquez accepts it, so must dk.
        run_event(None, "2026-11-26T10:00:01Z", {}),
        run_event(RunState.FAIL, "2026-11-26T10:00:02Z", {"errorMessage": failed}),
        DatasetEvent(
            eventTime="2026-11-26T09:00:00Z",
            dataset=StaticDataset(
                namespace=SOURCE,
                name=f"public.static_{mode}",
                facets={
                    "schema": schema_dataset.SchemaDatasetFacet(
                        fields=[schema_dataset.SchemaDatasetFacetFields(name="order_id", type="bigint")]
                    )
                },
            ),
        ),
        JobEvent(
            eventTime="2026-11-26T09:30:00Z",
            job=Job(
                namespace=NAMESPACE,
                name=f"declared_{mode}",
                facets={"documentation": documentation_job.DocumentationJobFacet(description="Declared")},
            ),
            inputs=[InputDataset(namespace=SOURCE, name=f"public.static_{mode}")],
        ),
    ]


sent = 0
for mode, compression in [("plain", None), ("gzip", "gzip")]:
    config = {"url": base, "auth": {"type": "api_key", "apiKey": token}}
    if compression:
        config["compression"] = compression
    client = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))
    for event in events(mode):
        client.emit(event)
        sent += 1

marquez = MarquezClient(url=base, api_key=token)
search = requests.get(
    f"{base}/api/v1/search", params={"q": "etl"}, headers={"Authorization": f"Bearer {token}"}, timeout=10
)
search.raise_for_status()
print(
    json.dumps(
        {
            "sent": sent,
            "namespace": marquez.get_namespace(NAMESPACE),
            "job": marquez.get_job(NAMESPACE, "etl_gzip"),
            "declared": marquez.get_job(NAMESPACE, "declared_plain"),
            "runs": marquez.list_job_runs(NAMESPACE, "etl_plain"),
            "dataset": marquez.get_dataset(SOURCE, "public.customers"),
            "static": marquez.get_dataset(SOURCE, "public.static_gzip"),
            "versions": marquez.list_dataset_versions(SOURCE, "public.clean_plain"),
            "events": marquez.list_events(limit=100),
            "sources": marquez.list_sources(),
            "tags": marquez.list_tags(),
            "columns_by_job": marquez.get_column_lineage_by_job(NAMESPACE, "etl_plain"),
            "columns_by_dataset": marquez.get_column_lineage_by_dataset(SOURCE, "public.clean_gzip"),
            "search": search.json(),
        }
    )
)
