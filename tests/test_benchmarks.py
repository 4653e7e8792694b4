"""The benchmark harness's own logic (no timing is asserted anywhere: benchmarks never fail on it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run as bench_run
from benchmarks.cold_start import imported_modules, parse_importtime, source_files
from benchmarks.report import README_END, README_START, render_table, update_readme, validate
from benchmarks.size import assets, directory_size
from benchmarks.stats import interleave, median, percentile, ratio, run_interleaved, summary


def test_median_of_odd_and_even_counts() -> None:
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5
    with pytest.raises(ValueError):
        median([])


@pytest.mark.parametrize(("p", "expected"), [(0, 1.0), (50, 2.5), (90, 3.7), (99, 3.97), (100, 4.0)])
def test_percentile_interpolates_linearly_like_numpy(p: float, expected: float) -> None:
    assert percentile([4, 2, 1, 3], p) == pytest.approx(expected)


def test_percentile_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_ratio_of_zero_is_none_not_an_error() -> None:
    assert ratio(3, 2) == 1.5
    assert ratio(1, 0) is None


def test_interleave_alternates_a_b_a_b() -> None:
    assert interleave(["A", "B"], 3) == [(0, "A"), (0, "B"), (1, "A"), (1, "B"), (2, "A"), (2, "B")]
    with pytest.raises(ValueError):
        interleave(["A"], 0)


def test_run_interleaved_calls_each_measure_in_turn() -> None:
    calls: list[str] = []

    def measure(label: str):
        return lambda: calls.append(label) or len(calls)

    results = run_interleaved({"A": measure("A"), "B": measure("B")}, 2)
    assert calls == ["A", "B", "A", "B"]
    assert results == {"A": [1, 3], "B": [2, 4]}


def test_summary_reports_median_spread_and_runs() -> None:
    assert summary([5.0, 1.0, 3.0]) == {"median": 3.0, "min": 1.0, "max": 5.0, "runs": 3}


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 | encodings
import time:        50 |         50 |     json.decoder
import time:        20 |         70 |   json
import time:       300 |       1300 |     pydantic_core
import time:      1000 |       2300 |   pydantic
import time:        10 |         10 |   json
import time:         5 |       2385 | handler
"""


def test_parse_importtime_gives_the_handler_total_and_its_direct_imports() -> None:
    total, children = parse_importtime(IMPORTTIME, "handler")
    assert total == pytest.approx(2.385)
    assert children == {"json": pytest.approx(0.08), "pydantic": pytest.approx(2.3)}
    with pytest.raises(ValueError):
        parse_importtime(IMPORTTIME, "other")


def test_the_modules_lambda_compiles_are_those_from_the_function_and_its_layers(tmp_path: Path) -> None:
    code, layer = tmp_path / "code", tmp_path / "layer"
    (code / "handler.py").parent.mkdir()
    (code / "handler.py").write_text("import pydantic\n")
    (layer / "pydantic").mkdir(parents=True)
    (layer / "pydantic" / "__init__.py").write_text("x = 1\n")
    (layer / "pydantic_core.py").write_text("def f():\n    return 1\n")
    modules = imported_modules(IMPORTTIME)
    assert modules == ["encodings", "json.decoder", "json", "pydantic_core", "pydantic", "json", "handler"]
    # json and encodings are the runtime's own (compiled there): not counted.
    files = source_files(modules, [code, layer])
    assert files == [layer / "pydantic_core.py", layer / "pydantic" / "__init__.py", code / "handler.py"]


def test_size_counts_files_and_zips_them(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "handler.py").write_text("x = 1\n" * 100)
    files, unzipped, zipped = directory_size(tmp_path / "a")
    assert (files, unzipped) == (1, 600)
    assert 0 < zipped < 600 + 200  # deflated content plus zip headers


def test_size_finds_function_and_layer_assets_in_an_assembly(tmp_path: Path) -> None:
    (tmp_path / "asset.fn").mkdir()
    (tmp_path / "asset.layer").mkdir()
    template = {
        "Resources": {
            "FnA": {
                "Type": "AWS::Lambda::Function",
                "Metadata": {"aws:asset:path": "asset.fn", "aws:cdk:path": "S/UsersApi/Function/Resource"},
            },
            "LayerB": {
                "Type": "AWS::Lambda::LayerVersion",
                "Metadata": {"aws:asset:path": "asset.layer", "aws:cdk:path": "S/Deps/Layer/Resource"},
            },
            "Table": {"Type": "AWS::DynamoDB::Table"},
        }
    }
    (tmp_path / "S.template.json").write_text(json.dumps(template))
    found = assets(tmp_path)
    assert {name: a["kind"] for name, a in found.items()} == {
        "UsersApi/Function": "function",
        "Deps/Layer": "layer",
    }


def test_dry_run_writes_results_that_match_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    output = tmp_path / "results.json"
    assert bench_run.main(["--dry-run", "--output", str(output)]) == 0
    results = json.loads(output.read_text())
    assert validate(results) == []
    table = capsys.readouterr().out
    for heading in ("Synth", "Cold start", "Warm path", "Pipeline", "Size", "Test suite"):
        assert f"**{heading}**" in table


def test_validate_names_what_is_missing(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    bench_run.main(["--dry-run", "--output", str(output)])
    results = json.loads(output.read_text())
    del results["warm_path"]["routes"]["GET /users/{id}, 1 client"]["p99_ms"]
    del results["pipeline"]["lost"]
    del results["data_plane"]["orders_per_s"]
    results["meta"]["machine"]["cores"] = None
    assert validate(results) == [
        "pipeline.lost: missing",
        "data_plane.orders_per_s: missing",
        "meta.machine.cores: not an integer",
        "warm_path.routes.GET /users/{id}, 1 client.p99_ms: missing",
    ]
    assert validate({"meta": results["meta"]})[0] == "synth: missing"


def test_skipped_sections_are_valid_and_rendered_as_skipped(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    bench_run.main(["--dry-run", "--output", str(output)])
    results = json.loads(output.read_text())
    results["pipeline"] = {"skipped": "--only"}
    assert validate(results) == []
    assert "skipped: --only" in render_table(results)


def test_update_readme_replaces_only_the_marked_block(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\n## Performance\n\n{README_START}\nold\n{README_END}\n\n## Next\n")
    update_readme(readme, "new table\n")
    assert (
        readme.read_text() == f"# T\n\n## Performance\n\n{README_START}\nnew table\n{README_END}\n\n## Next\n"
    )
    readme.write_text("# no block\n")
    with pytest.raises(ValueError):
        update_readme(readme, "x\n")


def test_runtime_figures_are_shown_as_ratios_to_the_data_plane_floor(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    bench_run.main(["--dry-run", "--output", str(output)])
    table = render_table(json.loads(output.read_text()))
    # GET p50 2.0 ms over GetItem's 1.0 ms; 2.5 orders/s over the floor's 90.9.
    assert "| GET /users/{id}, 1 client | 2.0 ms |" in table and "| 2.00x |" in table
    assert "| 2.5 | 0.03x |" in table
    assert "90.9 orders/s for one process doing only those" in table
