"""Security scan with checkov (docs/operations.md "Security scan"): the k8s/ base, each overlay
as built, and the Dockerfile.

checkov cannot share the project's virtualenv (it pins packaging<24, pytest needs >=24), so it
lives in a virtualenv of its own and this test finds it through $CHECKOV or PATH:

    make test    (installs it into .venv-checkov and sets CHECKOV), or by hand:
    CHECKOV=.venv-checkov/bin/checkov python -m pytest tests/ops/test_scanner.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.ops.manifests import BASE, OVERLAYS, ROOT, build

CHECKOV = os.environ.get("CHECKOV") or shutil.which("checkov")


@pytest.fixture(autouse=True)
def _checkov_installed() -> None:
    # `make test` installs it; running pytest by hand without it is a failure, not a skip.
    assert CHECKOV is not None, "checkov not found: run `make test`, or set CHECKOV (docstring)"


def checkov(*arguments: str) -> list[dict[str, Any]]:
    run = subprocess.run(
        [str(CHECKOV), *arguments, "--output", "json"],
        cwd=ROOT,
        # Offline: no Prisma Cloud guideline download.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]
    reports = json.loads(run.stdout)
    return reports if isinstance(reports, list) else [reports]


def failures_and_skips(reports: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for report in reports
        for check in report["results"]["failed_checks"]
    ]
    skipped = [check for report in reports for check in report["results"].get("skipped_checks", [])]
    return failed, skipped


def assert_passed_or_justified(reports: list[dict[str, Any]]) -> None:
    failed, skipped = failures_and_skips(reports)
    assert not failed, "\n".join(failed)
    for check in skipped:
        reason = check["check_result"].get("suppress_comment") or ""
        assert len(reason) > 20, f"{check['check_id']} on {check['resource']} has no reason"


def test_kubernetes_manifests_pass_checkov_or_justify_each_skip() -> None:
    assert_passed_or_justified(checkov("--directory", str(BASE), "--framework", "kubernetes"))


@pytest.mark.parametrize("overlay", ["redis-sentinel", "canary", "blue-green"])
def test_each_overlay_as_built_passes_checkov_or_justifies_each_skip(
    tmp_path: Path, overlay: str
) -> None:
    # checkov reads manifests, not kustomizations: scan what the overlay applies (the base with
    # its patches and what it adds), so graph checks see the patched objects.
    built = tmp_path / f"{overlay}.yaml"
    built.write_text(yaml.safe_dump_all(build(OVERLAYS / overlay), sort_keys=False))
    assert_passed_or_justified(checkov("--file", str(built), "--framework", "kubernetes"))


def test_dockerfile_passes_checkov() -> None:
    reports = checkov("--file", "Dockerfile", "--framework", "dockerfile")
    failed, skipped = failures_and_skips(reports)
    assert not failed, "\n".join(failed)
    assert not skipped
