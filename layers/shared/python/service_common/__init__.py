"""Code shared by the service's functions (deployed as the shared Lambda layer)."""

import logging

# Lambda's Python runtime puts a handler on the root logger at the function's log level (awslambdaric
# bootstrap._setup_logging): at DEBUG (the dev stage), botocore and urllib3 would log ~40 lines per AWS
# call into CloudWatch. The service logs through Powertools' Logger; libraries report warnings only.
for _library in ("botocore", "boto3", "urllib3", "aws_xray_sdk"):
    logging.getLogger(_library).setLevel(logging.WARNING)
