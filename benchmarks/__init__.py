"""`make bench`: figures for synth, cold start, warm path, pipeline, sizes and the test suite.

Benchmarks print figures; they never fail on timing. See benchmarks/run.py.
"""
