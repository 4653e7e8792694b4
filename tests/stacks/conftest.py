"""Synthesize the app once per test session, for both stages, and share the templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App

from app import build_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STAGES = ("dev", "prod")


@dataclass(frozen=True)
class Synthesized:
    stage: str
    outdir: Path
    templates: dict[str, dict[str, Any]]  # by stack id: "Data", "Service"
    validation_report: dict[str, Any]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }


def synthesize(stage: str, outdir: Path, context_overrides: dict[str, Any] | None = None) -> Synthesized:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    app = build_app(App(outdir=str(outdir), context={**context, "stage": stage, **(context_overrides or {})}))
    assembly = app.synth()
    templates = {stack.stack_name.split("-")[-1]: stack.template for stack in assembly.stacks}
    report_file = outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {"pluginReports": []}
    return Synthesized(stage, outdir, templates, report)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synthesized]:
    return {stage: synthesize(stage, tmp_path_factory.mktemp(f"cdk-{stage}")) for stage in STAGES}


@pytest.fixture(params=STAGES)
def stage_app(request: pytest.FixtureRequest, synthesized: dict[str, Synthesized]) -> Synthesized:
    return synthesized[request.param]
