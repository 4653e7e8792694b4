"""Files API: the caller's indexed uploads. GET /files lists them (newest first), GET /files/{fileId}
returns one with a presigned GET URL, DELETE /files/{fileId} deletes its object (204)."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from files import FILE_ID_PATTERN, Files
from models import FileDownload, FilePage
from service_common.api import create_resolver, documented_responses
from service_common.env import require_env
from service_common.identity import current_caller
from service_common.pagination import PageTokens
from service_common.tracing import TRACED_MODULES

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
app = create_resolver(logger)
files = Files(
    table_name=require_env("FILES_TABLE_NAME"),
    by_user_index=require_env("FILES_BY_USER_INDEX"),
    bucket=require_env("UPLOADS_BUCKET_NAME"),
    expiry_seconds=int(require_env("DOWNLOAD_EXPIRY_SECONDS")),
    tokens=PageTokens(),
)

FileId = Annotated[
    str, Path(max_length=137, pattern=FILE_ID_PATTERN, description="The file's id (from its upload's key)")
]


@app.get("/files", responses=documented_responses(200, FilePage, "A page of the caller's files", (400,)))
@tracer.capture_method
def list_files(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    nextToken: Annotated[str | None, Query(min_length=1, max_length=2048)] = None,  # noqa: N803 (API name)
) -> FilePage:
    return files.list_page(current_caller(app), limit, nextToken)


@app.get(
    "/files/<fileId>",
    responses=documented_responses(200, FileDownload, "The caller's file and a download URL", (404,)),
)
@tracer.capture_method
def get_file(fileId: FileId) -> FileDownload:  # noqa: N803 (API name)
    return files.download(current_caller(app), fileId)


@app.delete(
    "/files/<fileId>",
    responses=documented_responses(204, None, "Deleted; the listing drops it once S3 reports it", (404,)),
)
@tracer.capture_method
def delete_file(fileId: FileId) -> Response[None]:  # noqa: N803 (API name)
    files.delete(current_caller(app), fileId)
    metrics.add_metric(name="FileDeleted", unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.NO_CONTENT)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
