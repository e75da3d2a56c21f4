"""The GitHub Action (`action.yml`): validated against SchemaStore's action schema, and its steps
run locally, as the runner runs a composite action, against a SeaweedFS staging prefix.

The runner is imitated closely enough to matter: each `run:` step is written to a file and
run with `bash --noprofile --norc -eo pipefail`, in `$GITHUB_WORKSPACE`, with the step's
`env:` (its `${{ inputs.* }}` / `${{ steps.*.outputs.* }}` expressions, and `a || b` of them,
evaluated here: the only kinds the action uses), fresh `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`
files, and `GITHUB_ACTION_PATH` pointing at a committed copy of this repository. What is not
imitated: the one `uses:` step (`actions/cache`, which only saves and restores pip's download
cache; its inputs are checked to name outputs the steps before it write) and the runner's own
masking of secrets.

The install step (`pip install "$GITHUB_ACTION_PATH"` into a fresh venv) costs 15-25 s, so it
runs for real in one test only (`test_the_action_audits_a_staging_prefix`); the other tests
skip it and give the audit step this test session's interpreter, where the project is
installed already.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO
from tests.repo_copy import assert_pin_exists, committed_copy, readme_blocks
from tests.s3_audit_helpers import asset_files, put_files
from tests.s3_fixtures import BucketHandle
from tests.s3server import SeaweedServer
from tests.third_party import github_action_schema, github_workflow_schema, sarif_validator

ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
SARIF_VALIDATOR = sarif_validator()
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

GOOD = "123456_2022-02-21_16-30-01"  # the name and creation_time the v2.9.2 example sidecars carry: clean
OTHER_GOOD = "ecephys_123456_2022-12-13_05-06-07"
BROKEN = "smartspim_653158_2023-02-01_10-00-00"


# --- the action's metadata ------------------------------------------------------------------


def test_action_yml_is_valid_action_metadata() -> None:
    jsonschema.Draft7Validator(github_action_schema()).validate(ACTION)
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) == {
        "target",
        "convention",
        "config",
        "fail-on",
        "destination",
        "endpoint-url",
        "region",
        "no-sign-request",
        "baseline",
        "allow-empty",
        "timeout",
        "sarif",
        "python",
    }
    assert ACTION["inputs"]["target"]["required"] is True


def test_inputs_reach_the_scripts_only_through_env() -> None:
    """No expression inside `run:` text (where it would be pasted into shell code); every
    input and step output used is one that exists."""
    steps = ACTION["runs"]["steps"]
    used: set[str] = set()
    earlier: set[str] = set()  # ids of the steps before this one
    for step in steps:
        if "uses" in step:
            assert set(step) == {"name", "uses", "with"} and step["uses"] == "actions/cache@v4"
            values = step["with"].values()
        else:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], step["name"]
            values = step.get("env", {}).values()
        for value in values:
            for expr in EXPRESSION.findall(value):
                if expr.startswith("inputs."):
                    used.add(expr.removeprefix("inputs."))
                else:
                    assert re.fullmatch(r"steps\.([\w-]+)\.outputs\.[\w-]+", expr) and expr.split(".")[1] in earlier
        if "id" in step:
            earlier.add(step["id"])
    assert used == set(ACTION["inputs"])
    for name, output in ACTION["outputs"].items():
        assert re.fullmatch(
            r"\$\{\{ steps\.audit\.outputs\.[\w-]+( \|\| steps\.python\.outputs\.exit-code)? \}\}", output["value"]
        )
        assert output["value"].startswith(f"${{{{ steps.audit.outputs.{name} ")


# --- running the steps ----------------------------------------------------------------------


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a GITHUB_OUTPUT file: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n") if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
        i += 1
    return outputs


@dataclass
class ActionRun:
    code: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]
    workspace: Path
    written: dict[str, dict[str, str]]  # each step's own outputs, as it wrote them

    def sarif(self) -> dict[str, Any]:
        doc = json.loads((self.workspace / self.outputs["sarif"]).read_text(encoding="utf-8"))
        errors = list(SARIF_VALIDATOR.iter_errors(doc))
        assert not errors, [e.message for e in errors[:3]]
        return doc


def run_action(
    inputs: Mapping[str, str],
    workspace: Path,
    action_path: Path,
    environment: Mapping[str, str],
    python: str | None = None,
) -> ActionRun:
    """Run the composite action's steps as the runner does. ``python`` given: skip the install
    step and use that interpreter (where the project is installed) for the audit."""
    for name in inputs:
        assert name in ACTION["inputs"], name
    values = {name: inputs.get(name, str(spec.get("default", ""))) for name, spec in ACTION["inputs"].items()}
    temp = workspace.parent / "runner-temp"
    temp.mkdir(exist_ok=True)
    summary = temp / "step_summary.md"
    step_outputs: dict[str, dict[str, str]] = {}
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(temp)),
        "LANG": "C.UTF-8",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_ACTION_PATH": str(action_path),
        "GITHUB_STEP_SUMMARY": str(summary),
        "RUNNER_TEMP": str(temp),
        **environment,
    }
    for var in ("PIP_CONFIG_FILE", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CERT"):
        if var in os.environ:  # the machine's package index settings, as a runner would have its own
            base.setdefault(var, os.environ[var])

    def evaluate(value: str) -> str:
        def term(expr: str) -> str:
            if expr.startswith("inputs."):
                return values[expr.removeprefix("inputs.")]
            step, _, name = expr.removeprefix("steps.").partition(".outputs.")
            return step_outputs.get(step, {}).get(name, "")

        def one(m: re.Match[str]) -> str:  # `a || b`: the first that is not empty
            return next((v for v in (term(t.strip()) for t in m.group(1).split("||")) if v), "")

        return EXPRESSION.sub(one, value)

    stdout = stderr = ""
    code = 0
    for step in ACTION["runs"]["steps"]:
        if "uses" in step:  # actions/cache: not run here (see the module's docstring)
            continue
        if python is not None and step["id"] == "install":
            step_outputs["install"] = {"python": python}
            continue
        output_file = temp / f"output_{step['id']}"
        script = temp / f"step_{step['id']}.sh"
        script.write_text(step["run"], encoding="utf-8")
        env = {**base, "GITHUB_OUTPUT": str(output_file)}
        env.update({k: evaluate(str(v)) for k, v in step.get("env", {}).items()})
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        stdout += done.stdout
        stderr += done.stderr
        step_outputs[step["id"]] = read_outputs(output_file)
        code = done.returncode
        if code != 0:
            break
    outputs = {name: evaluate(spec["value"]) for name, spec in ACTION["outputs"].items()}
    text = summary.read_text(encoding="utf-8") if summary.exists() else ""
    return ActionRun(code, stdout, stderr, text, outputs, workspace, step_outputs)


@pytest.fixture(scope="session")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action's own checkout: this repository's working tree, committed."""
    repo, _ = committed_copy(tmp_path_factory.mktemp("action") / "aind-bucket-lint")
    return repo


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    ws.mkdir()
    return ws


@pytest.fixture
def credentials(s3_server: SeaweedServer) -> dict[str, str]:
    """What aws-actions/configure-aws-credentials exports, here for the SeaweedFS admin."""
    return {
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_REGION": s3_server.region,
        "AWS_DEFAULT_REGION": s3_server.region,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def staging(s3_bucket: BucketHandle) -> BucketHandle:
    """staging/: a good asset, a broken one, and one already published; published/: that one."""
    client, bucket = s3_bucket
    put_files(
        client,
        bucket,
        {
            **{f"staging/{k}": v for k, v in asset_files(GOOD).items()},
            **{f"staging/{k}": v for k, v in asset_files(OTHER_GOOD).items()},
            f"staging/{BROKEN}/SPIM/tile_000.txt": "t",
            **{f"published/{k}": v for k, v in asset_files(OTHER_GOOD).items()},
        },
    )
    return s3_bucket


def test_the_action_audits_a_staging_prefix(
    staging: BucketHandle, s3_server: SeaweedServer, credentials: dict[str, str], workspace: Path, action_path: Path
) -> None:
    """The whole action, install step included: annotations, job summary, SARIF, outputs, exit code."""
    bucket = staging.name
    run = run_action(
        {
            "target": f"s3://{bucket}/staging/",
            "endpoint-url": s3_server.endpoint_url,
            "destination": f"s3://{bucket}/published/",
            "sarif": "reports/lint.sarif",
        },
        workspace,
        action_path,
        credentials,
    )
    assert run.code == 1, run.stdout + run.stderr
    assert run.outputs["exit-code"] == "1"
    assert run.outputs["sarif"] == "reports/lint.sarif"

    sarif = run.sarif()
    [sarif_run] = sarif["runs"]
    assert sarif_run["originalUriBaseIds"]["TARGETROOT"]["uri"] == f"s3://{bucket}/staging/"
    results = [
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in sarif_run["results"]
    ]
    assert (("N102", BROKEN)) in results
    assert ("I405", OTHER_GOOD) in results
    assert ("M201", f"{BROKEN}/data_description.json") in results
    assert not any(uri.startswith(GOOD) for _, uri in results)  # the good asset is clean
    assert all(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "TARGETROOT"
        for r in sarif_run["results"]
    )
    levels = [r["level"] for r in sarif_run["results"]]
    assert run.outputs["findings"] == str(len(results))
    assert run.outputs["errors"] == str(levels.count("error"))
    assert run.outputs["warnings"] == str(levels.count("warning"))
    assert run.outputs["notes"] == str(levels.count("note"))
    # every output the audit writes is declared, and every declared output is written
    assert set(run.written["audit"]) == set(ACTION["outputs"])
    assert run.written["python"]["version"].startswith("3.")

    annotations = [line for line in run.stdout.splitlines() if line.startswith("::")]
    assert (
        f"::error title=N102 unknown-modality::s3://{bucket}/staging/{BROKEN}: "
        "modality 'smartspim' is not in the vocabulary; did you mean 'SmartSPIM'?"
    ) in annotations
    assert any(
        line.startswith(f"::error title=I405 would-overwrite::s3://{bucket}/staging/{OTHER_GOOD}: ")
        for line in annotations
    )
    assert len(annotations) == len(results)  # under the cap: one annotation a finding
    assert run.stdout.splitlines()[-1].startswith("aind-bucket-lint: 3 assets, ")

    assert run.summary.startswith("## aind-bucket-lint\n\n**Failed**: ")
    assert f"Target `s3://{bucket}/staging/`, convention `aind-open-data`: 3 assets, " in run.summary
    assert "| N102 | unknown-modality | error | 1 |" in run.summary
    assert "| I405 | would-overwrite | error | 1 |" in run.summary
    assert f"| error | N102 | `{BROKEN}` | modality 'smartspim' is not in the vocabulary" in run.summary


def test_fail_on_decides_the_exit_code(
    staging: BucketHandle, s3_server: SeaweedServer, credentials: dict[str, str], workspace: Path, action_path: Path
) -> None:
    inputs = {"target": f"s3://{staging.name}/staging/", "endpoint-url": s3_server.endpoint_url}
    never = run_action({**inputs, "fail-on": "never"}, workspace, action_path, credentials, python=sys.executable)
    assert (never.code, never.outputs["exit-code"]) == (0, "0")
    assert int(never.outputs["findings"]) > 0
    assert never.summary.splitlines()[2] == "**Passed** (fails on `never`)"
    assert (workspace / "aind-bucket-lint.sarif").is_file()  # the default SARIF path


def test_a_baseline_input_leaves_only_new_findings(
    staging: BucketHandle, s3_server: SeaweedServer, credentials: dict[str, str], workspace: Path, action_path: Path
) -> None:
    target = f"s3://{staging.name}/staging/"
    env = {**os.environ, **credentials}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "linter",
            "baseline",
            target,
            "--endpoint-url",
            s3_server.endpoint_url,
            "--output",
            str(workspace / "legacy.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    inputs = {"target": target, "endpoint-url": s3_server.endpoint_url, "baseline": "legacy.json"}
    run = run_action(inputs, workspace, action_path, credentials, python=sys.executable)
    assert (run.code, run.outputs["findings"], run.outputs["errors"]) == (0, "0", "0")
    assert run.sarif()["runs"][0]["results"] == []
    assert "findings matched the baseline and are not shown." in run.summary
    assert run.summary.splitlines()[2] == "**Passed** (fails on `error`)"


def test_inputs_are_data_never_shell_code(workspace: Path, action_path: Path) -> None:
    """A target and a SARIF path made of shell syntax reach the linter as plain strings."""
    pwned = workspace / "pwned"
    target = f'$(touch {pwned})"; touch {pwned}; echo "`touch {pwned}`'
    run = run_action(
        {"target": target, "sarif": "$(touch pwned).sarif"}, workspace, action_path, {}, python=sys.executable
    )
    assert not pwned.exists()
    assert run.code == 2 and run.outputs["exit-code"] == "2"
    assert f"aind-bucket-lint: {target}: no such file or directory" in run.stderr
    assert run.outputs["sarif"] == "$(touch pwned).sarif"
    assert run.sarif()["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_an_empty_target_fails_unless_allow_empty(workspace: Path, action_path: Path) -> None:
    """A typo in the target (an empty folder or prefix) fails the step; allow-empty lets a
    staging prefix between uploads pass."""
    (workspace / "staging").mkdir()
    run = run_action({"target": "staging"}, workspace, action_path, {}, python=sys.executable)
    assert run.code == 2 and run.outputs["exit-code"] == "2"
    assert "aind-bucket-lint: staging: no assets found" in run.stderr
    assert [r["ruleId"] for r in run.sarif()["runs"][0]["results"]] == ["E901"]
    allowed = run_action(
        {"target": "staging", "allow-empty": "true", "timeout": "600"},
        workspace,
        action_path,
        {},
        python=sys.executable,
    )
    assert allowed.code == 0 and allowed.outputs["exit-code"] == "0", allowed.stderr
    assert allowed.outputs["findings"] == "0"


def test_a_bad_input_is_a_clear_error(workspace: Path, action_path: Path) -> None:
    run = run_action(
        {"target": "s3://b/staging/", "no-sign-request": "maybe"}, workspace, action_path, {}, python=sys.executable
    )
    assert run.code == 2
    assert run.stdout == "::error title=aind-bucket-lint::input no-sign-request must be true or false, not 'maybe'\n"
    assert run.outputs["exit-code"] == "2" and run.outputs["sarif"] == ""
    run = run_action(
        {"target": "s3://b/staging/", "fail-on": "sometimes"}, workspace, action_path, {}, python=sys.executable
    )
    assert run.code == 2
    assert "argument --fail-on: invalid choice: 'sometimes'" in run.stderr
    assert run.outputs["sarif"] == "" and not (workspace / "aind-bucket-lint.sarif").exists()


def check_jsonschema(builtin: str, path: Path) -> subprocess.CompletedProcess[str]:
    """The real check-jsonschema command with one of its built-in (SchemaStore) schemas."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", builtin, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_readme_workflow_and_action_pass_check_jsonschema(tmp_path: Path) -> None:
    [workflow_text] = [b for b in readme_blocks("yaml") if "jobs:" in b]
    workflow = tmp_path / "audit-staging.yml"
    workflow.write_text(workflow_text, encoding="utf-8")
    done = check_jsonschema("vendor.github-workflows", workflow)
    assert done.returncode == 0, done.stdout + done.stderr
    done = check_jsonschema("vendor.github-actions", REPO / "action.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    # and the check fails where it should: a step with neither run nor uses
    workflow.write_text(workflow_text.replace("      - uses: actions/checkout@v4", "      - name: nothing"))
    assert check_jsonschema("vendor.github-workflows", workflow).returncode == 1


def test_readme_workflow_is_a_valid_workflow_that_uses_this_action() -> None:
    [workflow_text] = [b for b in readme_blocks("yaml") if "jobs:" in b]
    workflow = yaml.safe_load(workflow_text)
    workflow["on"] = workflow.pop(True)  # PyYAML reads the key `on` as YAML 1.1's boolean; GitHub does not
    jsonschema.Draft7Validator(github_workflow_schema()).validate(workflow)
    # upload-sarif needs security-events: write, and contents/actions: read in private repositories
    assert workflow["permissions"] == {
        "contents": "read",
        "id-token": "write",
        "security-events": "write",
        "actions": "read",
    }
    steps = workflow["jobs"]["audit"]["steps"]
    uses = [s.get("uses", "").split("@") for s in steps]
    assert uses == [
        ["actions/checkout", "v4"],
        ["aws-actions/configure-aws-credentials", "v4"],
        ["OWNER/aind-bucket-lint", "<sha>"],
        ["github/codeql-action/upload-sarif", "v4"],
    ]
    assert_pin_exists(uses[2][1])
    assert "role-to-assume" in steps[1]["with"]  # OIDC: a role, no stored keys
    lint, upload = steps[2], steps[3]
    assert set(lint["with"]) <= set(ACTION["inputs"])
    assert lint["with"]["target"] == "s3://BUCKET/staging/"
    assert upload["with"]["sarif_file"] == f"${{{{ steps.{lint['id']}.outputs.sarif }}}}"
    assert "sarif" in ACTION["outputs"] and "exit-code" in ACTION["outputs"]
    assert "!cancelled()" in upload["if"]  # runs after a failing audit step too


def older_python() -> tuple[str, str] | None:
    """(path, version) of a real Python older than 3.11 on this machine that runs, if there is one."""
    import glob
    import shutil

    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    candidates += [p for p in (shutil.which(f"python3.{minor}") for minor in range(6, 11)) if p]
    for path in candidates:
        done = subprocess.run(
            [path, "-c", "import platform, sys; print(platform.python_version(), sys.version_info < (3, 11))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and done.stdout.split()[1:] == ["True"]:
            return path, done.stdout.split()[0]
    return None


def test_a_python_that_does_not_run_stops_the_action_before_installing(workspace: Path, action_path: Path) -> None:
    run = run_action({"target": "bucket", "python": "/nonexistent/python3"}, workspace, action_path, {})
    assert run.code == 2
    assert run.stdout == (
        "::error title=aind-bucket-lint::input python: '/nonexistent/python3' is not a Python that runs; "
        "give Python 3.11 or newer (e.g. after actions/setup-python)\n"
    )
    assert run.outputs["exit-code"] == "2"
    assert set(run.written) == {"python"}  # neither the install nor the audit ran


def test_a_python_older_than_3_11_stops_the_action_before_installing(workspace: Path, action_path: Path) -> None:
    found = older_python()
    if found is None:
        pytest.skip("no Python older than 3.11 on this machine (python3.6-3.10 on PATH, or pyenv's)")
    old, version = found
    run = run_action({"target": "bucket", "python": old}, workspace, action_path, {})
    assert run.code == 2
    assert run.stdout == (
        f"::error title=aind-bucket-lint::aind-bucket-lint needs Python 3.11 or newer; '{old}' is Python {version} "
        "(set the python input, e.g. after actions/setup-python)\n"
    )
    assert run.outputs["exit-code"] == "2"
    assert set(run.written) == {"python"}


def test_pip_downloads_are_cached_between_runs() -> None:
    """The cache step keeps pip's cache folder, the one the install step's pip uses, under a key
    of the runner's OS, the Python version and the project's pyproject.toml."""
    steps = {s.get("id", s["name"]): s for s in ACTION["runs"]["steps"]}
    names = [s.get("id", s["name"]) for s in ACTION["runs"]["steps"]]
    assert names == ["python", "Cache pip downloads", "install", "audit"]
    cache = steps["Cache pip downloads"]
    assert cache["with"] == {
        "path": "${{ steps.python.outputs.pip-cache }}",
        "key": "${{ steps.python.outputs.cache-key }}",
        "restore-keys": "${{ steps.python.outputs.cache-key-prefix }}",
    }
    assert steps["install"]["env"]["PIP_CACHE_DIR"] == "${{ steps.python.outputs.pip-cache }}"
