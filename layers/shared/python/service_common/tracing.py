"""X-Ray tracing settings shared by every function."""

# What the X-Ray SDK patches: every AWS call of this service goes through botocore. Powertools' default
# (patch_all) imports each library the SDK supports that is installed (requests, httplib, sqlite3, ...)
# at init, for calls no function makes: a cost on every cold start.
# https://docs.aws.amazon.com/powertools/python/latest/core/tracer/#tracing-only-a-subset-of-modules
TRACED_MODULES = ("botocore",)
