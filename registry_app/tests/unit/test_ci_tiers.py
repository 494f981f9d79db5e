"""The heavy-job selection of .ci/tiers.py and the repository's map, .ci/tiers.yml.

CI runs the heavy jobs (molecule scenarios, the local stack) only when a path they depend on
changed since the last full run, so a wrong glob or a forgotten scenario would let a breaking
change land untested. These tests pin the glob semantics, the fall-backs to "run everything",
the git side on a real repository made in a temporary directory, and the honesty of the real map.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]


def _load_tiers() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_tiers", REPO_ROOT / ".ci" / "tiers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


tiers = _load_tiers()

SMALL_MAP = {
    "all_when_changed": ["scripts/test"],
    "ignore": ["**/*.md", "docs/**", ".ci/last-full-run"],
    "sets": {"deployed": ["collections/**", "!collections/tests/**", "app/**", "!app/tests/**"]},
    "heavy": {
        "one": {"run": "scripts/test-molecule one", "minutes": 3, "paths": ["@deployed", "molecule/one/**"]},
        "two": {"run": "scripts/test-molecule two", "paths": ["@deployed", "molecule/two/**", "molecule/one/**"]},
        "stack": {"run": "scripts/test-stack", "paths": ["scripts/up*", "inventories/local/**"]},
    },
}


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("collections/**", "collections/a/b/c.yml", True),
        ("collections/**", "collections", False),
        ("collections/**", "collectionsx/a", False),
        ("**/*.md", "README.md", True),
        ("**/*.md", "a/b/README.md", True),
        ("**/*.md", "a/b/README.mdx", False),
        ("*.md", "a/README.md", False),
        ("molecule/*/molecule.yml", "molecule/default/molecule.yml", True),
        ("molecule/*/molecule.yml", "molecule/a/b/molecule.yml", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/yb", False),
        ("scripts/up*", "scripts/up-stack", True),
        ("scripts/up?", "scripts/up", False),
        ("scripts/test", "scripts/test-stack", False),
        (".ci/run", ".ci/runx", False),
        ("a.b", "axb", False),
    ],
)
def test_glob(pattern: str, path: str, expected: bool) -> None:
    assert tiers.matches(pattern, path) is expected


@pytest.mark.parametrize("pattern", ["a**", "**b/c", "/abs", "dir/", "[ab]c", ""])
def test_bad_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(tiers.MapError):
        tiers.glob_regex(pattern)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"heavy": {"x": {"run": "scripts/x", "paths": ["@nope"]}}}, "no set 'nope'"),
        ({"heavy": {"x": {"run": "scripts/x 'a b'", "paths": ["a/**"]}}}, "plain words"),
        ({"heavy": {"x": {"paths": ["a/**"]}}}, "plain words"),
        ({"heavy": {"x": {"run": "scripts/x", "paths": ["!a/**"]}}}, "nothing selects it"),
        ({"heavy": {"x": {"run": "scripts/x", "paths": "a/**"}}}, "list of non-empty strings"),
        ({"heavy": {"x": {"run": "scripts/x", "paths": ["a**"]}}}, "whole path component"),
        ({"heavy": {}}, "job names"),
    ],
)
def test_malformed_maps_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(tiers.MapError, match=re.escape(message)):
        tiers.parse_map({**SMALL_MAP, **change})


def test_selection_from_a_fake_diff() -> None:
    tiermap = tiers.parse_map(SMALL_MAP)
    assert [(j.name, j.argv, j.minutes) for j in tiermap.jobs] == [
        ("one", ("scripts/test-molecule", "one"), 3.0),
        ("two", ("scripts/test-molecule", "two"), 0.0),
        ("stack", ("scripts/test-stack",), 0.0),
    ]

    def selected(*paths: str) -> dict[str, list[str]]:
        result = tiers.select(tiermap, paths)
        assert not result.run_all
        return dict(result.selected)

    assert selected() == {}
    assert selected("molecule/two/verify.yml") == {"two": ["molecule/two/verify.yml"]}
    # A file another scenario imports selects both.
    shared = "molecule/one/converge.yml"
    assert selected(shared) == {"one": [shared], "two": [shared]}
    # Documentation and the excluded tests select nothing; the deployed source selects every deployment.
    assert selected("collections/README.md", "docs/x.txt", "collections/tests/unit/t.py", "app/tests/t.py") == {}
    assert selected("app/src/m.py", "scripts/up-stack", "README.md") == {
        "one": ["app/src/m.py"],
        "two": ["app/src/m.py"],
        "stack": ["scripts/up-stack"],
    }
    # The record of the last full run is not a change.
    assert selected(".ci/last-full-run") == {}


def test_the_explanation_names_paths_and_compares_the_estimate_with_the_budget() -> None:
    tiermap = tiers.parse_map({**SMALL_MAP, "budget_minutes": 10, "fast_minutes": 6})
    assert (tiermap.budget_minutes, tiermap.fast_minutes) == (10.0, 6.0)
    paths = [f"molecule/one/f{i}.yml" for i in range(7)]
    text = tiers.describe(tiers.select(tiermap, paths), tiermap, None)
    assert "one <- molecule/one/f0.yml, molecule/one/f1.yml" in text and "(+2 more)" in text
    assert "not needed: stack" in text
    assert "~9 min of CI's 10-minute budget" in text and "OVER" not in text
    # Everything: 3 + 0 + 0 heavy + 6 fast is still under 10; a 5-minute budget is not.
    over = tiers.parse_map({**SMALL_MAP, "budget_minutes": 5, "fast_minutes": 6})
    assert "OVER BUDGET" in tiers.describe(tiers.Plan(True, "--all"), over, None)
    assert "OVER BUDGET" not in tiers.describe(tiers.Plan(False, "--heavy"), over, ["one"], fast=False)
    with pytest.raises(tiers.MapError, match="budget_minutes"):
        tiers.parse_map({**SMALL_MAP, "budget_minutes": "soon"})


@pytest.mark.parametrize("path", ["scripts/test", ".ci/tiers.yml", ".ci/tiers.py"])
def test_changing_the_runner_or_the_map_runs_everything(path: str) -> None:
    result = tiers.select(tiers.parse_map(SMALL_MAP), ["app/tests/t.py", path])
    assert result.run_all
    assert path in result.reason


# --- The git side, on a real repository -----------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout


def write(repo: Path, path: str, text: str = "x\n") -> None:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    write(tmp_path, ".ci/tiers.yml", yaml.safe_dump(SMALL_MAP))
    for path in ("app/src/m.py", "molecule/one/converge.yml", "molecule/two/verify.yml", "scripts/up-stack"):
        write(tmp_path, path)
    commit_all(tmp_path, "base")
    return tmp_path


def test_git_plan_selects_from_the_change_since_the_last_full_run(repo: Path) -> None:
    tiermap = tiers.load_map(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    write(repo, ".ci/last-full-run", base + "\n")
    write(repo, "molecule/two/verify.yml", "changed\n")
    commit_all(repo, "record and change two")

    result = tiers.plan(repo, tiermap, {})
    assert not result.run_all, result.reason
    assert result.base == base
    assert result.selected == {"two": ["molecule/two/verify.yml"]}
    assert result.changed == [".ci/last-full-run", "molecule/two/verify.yml"]

    # A developer's uncommitted edit and a new untracked file count as well.
    write(repo, "scripts/up-stack", "edited\n")
    write(repo, "molecule/one/new.yml")
    result = tiers.plan(repo, tiermap, {})
    assert result.selected == {
        "one": ["molecule/one/new.yml"],
        "two": ["molecule/one/new.yml", "molecule/two/verify.yml"],
        "stack": ["scripts/up-stack"],
    }

    # A rename counts as both paths: moving a file out of a scenario still selects it.
    git(repo, "checkout", "-q", "--", "scripts/up-stack")
    (repo / "molecule/one/new.yml").unlink()
    git(repo, "mv", "molecule/one/converge.yml", "molecule/converge.yml")
    result = tiers.plan(repo, tiermap, {})
    assert "molecule/one/converge.yml" in result.selected["one"]

    # Everything when CI says so (and not for a false-ish value).
    assert tiers.plan(repo, tiermap, {"QUAY_CI_ALL": "1"}).run_all
    assert not tiers.plan(repo, tiermap, {"QUAY_CI_ALL": "0"}).run_all


def test_git_plan_runs_everything_when_the_base_is_unknown(repo: Path) -> None:
    tiermap = tiers.load_map(repo)
    result = tiers.plan(repo, tiermap, {})
    assert result.run_all and "no .ci/last-full-run" in result.reason

    write(repo, ".ci/last-full-run", "not a commit\n")
    assert "holds no commit id" in tiers.plan(repo, tiermap, {}).reason

    write(repo, ".ci/last-full-run", "0123456789abcdef0123456789abcdef01234567\n")
    result = tiers.plan(repo, tiermap, {})
    assert result.run_all and "not in this clone" in result.reason

    base = git(repo, "rev-parse", "HEAD").strip()
    write(repo, ".ci/last-full-run", base + "\n")
    assert not tiers.plan(repo, tiermap, {}).run_all
    write(repo, ".ci/tiers.yml", yaml.safe_dump(SMALL_MAP) + "# edited\n")
    result = tiers.plan(repo, tiermap, {})
    assert result.run_all and ".ci/tiers.yml" in result.reason


def test_git_plan_outside_a_checkout(tmp_path: Path) -> None:
    write(tmp_path, ".ci/tiers.yml", yaml.safe_dump(SMALL_MAP))
    result = tiers.plan(tmp_path, tiers.load_map(tmp_path), {})
    assert result.run_all and result.reason == "not a git checkout"


def test_the_command_line_prints_the_jobs_and_why(repo: Path) -> None:
    (repo / ".ci/tiers.py").write_bytes((REPO_ROOT / ".ci/tiers.py").read_bytes())
    base = commit_all(repo, "add the planner")
    write(repo, ".ci/last-full-run", base + "\n")
    write(repo, "app/src/m.py", "changed\n")
    env = {k: v for k, v in os.environ.items() if k != "QUAY_CI_ALL"}
    done = subprocess.run([sys.executable, str(repo / ".ci/tiers.py"), "plan"], capture_output=True, text=True,
                          check=True, env=env)
    assert done.stdout.splitlines() == ["one scripts/test-molecule one", "two scripts/test-molecule two"]
    assert "one <- app/src/m.py" in done.stderr
    assert "not needed: stack" in done.stderr
    done = subprocess.run([sys.executable, str(repo / ".ci/tiers.py"), "plan", "--heavy", "stack"],
                          capture_output=True, text=True, check=True, env=env)
    assert done.stdout.splitlines() == ["stack scripts/test-stack"]
    done = subprocess.run([sys.executable, str(repo / ".ci/tiers.py"), "plan", "--heavy", "nope"],
                          capture_output=True, text=True, check=False, env=env)
    assert done.returncode == 2 and "no heavy job 'nope'" in done.stderr


# --- The repository's own map ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_map() -> Any:
    return tiers.load_map(REPO_ROOT)


@pytest.fixture(scope="module")
def tracked() -> list[str]:
    out = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-z"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [p for p in out.stdout.split("\0") if p]


def job_selected_by(tiermap: Any, path: str) -> set[str]:
    result = tiers.select(tiermap, [path])
    return {j.name for j in tiermap.jobs} if result.run_all else set(result.selected)


def test_every_pattern_of_the_map_matches_a_file(real_map: Any, tracked: list[str]) -> None:
    """A typo in a glob would silently never select its job."""
    patterns = [p for p in real_map.patterns() if p != tiers.LAST_FULL_RUN]
    dead = [p for p in patterns if not any(tiers.matches(p, f) for f in tracked)]
    assert dead == []


def test_every_job_command_exists(real_map: Any) -> None:
    for job in real_map.jobs:
        assert os.access(REPO_ROOT / job.argv[0], os.X_OK), job


def test_every_molecule_scenario_is_a_heavy_job_selected_by_what_it_imports(real_map: Any) -> None:
    jobs = {j.argv: j.name for j in real_map.jobs}
    scenarios = sorted(p.parent.name for p in (REPO_ROOT / "molecule").glob("*/molecule.yml"))
    assert scenarios
    for scenario in scenarios:
        name = jobs.get(("scripts/test-molecule", scenario))
        assert name, f"molecule scenario {scenario} has no heavy job in .ci/tiers.yml"
        directory = REPO_ROOT / "molecule" / scenario
        for f in sorted(directory.rglob("*.yml")):
            assert name in job_selected_by(real_map, str(f.relative_to(REPO_ROOT))), f
            # Files of another scenario (../default/converge.yml) or of the playbooks it imports.
            for ref in re.findall(r"(?<![\w/])\.\./[\w./-]+\.yml", f.read_text()):
                target = (f.parent / ref).resolve().relative_to(REPO_ROOT)
                assert name in job_selected_by(real_map, str(target)), f"{f}: {ref}"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # What every deployment is made of selects every heavy job.
        ("registry_app/src/registry_app/cli.py", "all"),
        ("registry_app/pyproject.toml", "all"),
        ("collections/ansible_collections/quay/registry/roles/registry/tasks/main.yml", "all"),
        ("playbooks/site.yml", "all"),
        ("scripts/test-molecule", "all"),
        ("scripts/ansible-venv", "all"),
        # The stack's own files select only it.
        ("inventories/local-stack/host_vars/quay-stack.yml", {"stack"}),
        ("inventories/single-node/group_vars/all.yml", {"stack"}),
        ("scripts/up-stack", {"stack"}),
        # molecule/default's files are also the converge and verify of containers and docker.
        ("molecule/default/verify.yml", {"molecule-default", "molecule-containers", "molecule-docker"}),
        ("molecule/lifecycle/side_effect.yml", {"molecule-lifecycle"}),
        # Tested in the fast tier only: pytest, the collection's own tests, documentation.
        ("registry_app/tests/unit/test_names.py", set()),
        ("collections/ansible_collections/quay/registry/tests/unit/test_roles.py", set()),
        ("collections/ansible_collections/quay/registry/roles/registry/README.md", set()),
        ("docs/architecture.md", set()),
        ("scripts/test-collection", set()),
    ],
)
def test_the_real_map_selects_honestly(real_map: Any, path: str, expected: str | set[str]) -> None:
    names = {j.name for j in real_map.jobs}
    assert job_selected_by(real_map, path) == (names if expected == "all" else expected)
