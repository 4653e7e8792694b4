"""Uploads API: POST /uploads returns a presigned PUT URL under the caller's uploads/<sub>/ prefix."""

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from models import UploadRequest, UploadTicket
from service_common.api import create_resolver, documented_responses
from service_common.env import require_env
from service_common.identity import current_caller
from service_common.tracing import TRACED_MODULES
from uploads import Uploads

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
app = create_resolver(logger)
uploads = Uploads(
    bucket=require_env("UPLOADS_BUCKET_NAME"),
    max_bytes=int(require_env("UPLOAD_MAX_BYTES")),
    expiry_seconds=int(require_env("PRESIGN_EXPIRY_SECONDS")),
)


@app.post(
    "/uploads", responses=documented_responses(201, UploadTicket, "Upload URL issued", errors=(400, 403, 413))
)
@tracer.capture_method
def create_upload(request: Annotated[UploadRequest, Body()]) -> Response[UploadTicket]:
    ticket = uploads.ticket(current_caller(app).user_id, request)
    logger.info("Upload URL issued", extra={"key": ticket.key, "size": request.size})
    metrics.add_metric(name="UploadUrlIssued", unit=MetricUnit.Count, value=1)
    return Response(status_code=HTTPStatus.CREATED, content_type=content_types.APPLICATION_JSON, body=ticket)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
