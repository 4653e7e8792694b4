"""Every stack template of both stages, as a reviewed snapshot (`pytest --snapshot-update` to accept).

Asset hashes change with every handler edit, so they are normalised: a code change does not churn the
snapshots, an infrastructure change does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.stacks.conftest import STACKS

_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalise(template: dict[str, Any]) -> dict[str, Any]:
    text = _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))
    normalised = json.loads(text)
    normalised["Resources"].pop("CDKMetadata", None)  # CDK version analytics, not infrastructure
    normalised.get("Conditions", {}).pop("CDKMetadataAvailable", None)
    return normalised


@pytest.mark.parametrize("stack", STACKS)
def test_template_matches_snapshot(stage_app, stack, snapshot):
    assert normalise(stage_app.templates[stack]) == snapshot(extension_class=JSONSnapshotExtension)


def test_normalising_keeps_infrastructure_changes_visible(synthesized):
    dev = normalise(synthesized["dev"].templates["Data"])
    prod = normalise(synthesized["prod"].templates["Data"])
    assert dev != prod  # e.g. deletion protection and removal policy differ per stage
    assert "<asset-hash>" in json.dumps(normalise(synthesized["dev"].templates["Service"]))


def test_a_worker_reading_the_shared_assembly_sees_what_synth_returned(synthesized):
    """Parallel test workers share one synth (tests/conftest.py): reading it back loses nothing."""
    from tests.stacks.conftest import load_synthesized

    for stage, app in synthesized.items():
        loaded = load_synthesized(stage, app.outdir)
        assert loaded.templates == app.templates and set(loaded.templates) >= {"Data", "Service"}
        assert loaded.validation_report == app.validation_report
