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
COLL = "collections/ansible_collections/quay/registry"
CLAIR_USERS = {"molecule-default", "molecule-containers", "molecule-lifecycle", "stack"}


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
    "fast_only": ["collections/tests/**", "app/tests/**"],
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


def test_a_path_the_map_does_not_know_runs_everything() -> None:
    """Nothing says what a new top-level directory or script needs: every heavy job runs."""
    tiermap = tiers.parse_map(SMALL_MAP)
    result = tiers.select(tiermap, ["app/tests/t.py", "deploy/helm/Chart.yaml", "README.md"])
    assert result.run_all
    assert "not in the map: deploy/helm/Chart.yaml" in result.reason and "app/tests" not in result.reason
    assert tiermap.unknown(["deploy/x", "app/src/m.py", "app/tests/t.py", "docs/a.txt", "scripts/test"]) == ["deploy/x"]
    # Known paths alone keep the narrow selection.
    assert not tiers.select(tiermap, ["app/tests/t.py", "README.md"]).run_all


def test_the_last_matching_pattern_decides_and_sets_can_be_negated() -> None:
    """A set may leave a directory out that a later, narrower pattern of one job adds back."""
    data = {
        "sets": {"base": ["roles/**", "!@narrow"], "narrow": ["roles/clair/**"]},
        "fast_only": ["@narrow"],
        "heavy": {
            "with": {"run": "scripts/a", "paths": ["@base", "@narrow"]},
            "without": {"run": "scripts/b", "paths": ["@base"]},
        },
    }
    tiermap = tiers.parse_map(data)
    assert tiermap.job("without").paths == ("roles/**", "!roles/clair/**")
    assert tiers.select(tiermap, ["roles/clair/tasks/main.yml"]).selected == {"with": ["roles/clair/tasks/main.yml"]}
    assert set(tiers.select(tiermap, ["roles/redis/tasks/main.yml"]).selected) == {"with", "without"}
    assert tiermap.fast_only == ("roles/clair/**",)
    with pytest.raises(tiers.MapError, match="fast_only: no exclusions"):
        tiers.parse_map({**data, "fast_only": ["!@narrow"]})
    with pytest.raises(tiers.MapError, match="no set 'gone'"):
        tiers.parse_map({**data, "fast_only": ["@gone"]})


def test_the_estimate_counts_the_setup_with_the_fast_tier() -> None:
    tiermap = tiers.parse_map({**SMALL_MAP, "fast_minutes": 6, "setup_minutes": 2})
    text = tiers.describe(tiers.Plan(True, "--all"), tiermap, None)
    assert "heavy ~3 min + fast ~6 min + setup ~2 min = ~11 min" in text
    assert "= ~3 min" in tiers.describe(tiers.Plan(False, "--heavy"), tiermap, ["one"], fast=False)


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
    git(repo, "mv", "molecule/one/converge.yml", "molecule/two/converge.yml")
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
        # The web UI: its source and bundle are checked and driven in the fast tier only.
        ("registry_app/ui/src/App.tsx", set()),
        ("registry_app/src/registry_app/http/ui_dist/index.html", set()),
        ("registry_app/src/registry_app/http/ui.py", "all"),
        # The collection, role by role and module by module.
        (f"{COLL}/roles/postgresql/tasks/main.yml", "all"),
        (f"{COLL}/roles/registry/templates/Containerfile.j2", "all"),
        (f"{COLL}/roles/clair/tasks/main.yml", CLAIR_USERS),
        ("scripts/build-go-tools", CLAIR_USERS),
        (f"{COLL}/roles/container/tasks/service.yml", {"molecule-containers", "molecule-docker"}),
        ("playbooks/upgrade.yml", {"molecule-lifecycle"}),
        ("playbooks/uninstall.yml", {"molecule-lifecycle"}),
        (f"{COLL}/plugins/modules/quay_config_bundle.py", "all"),
        (f"{COLL}/plugins/module_utils/config_schema.py", "all"),
        (f"{COLL}/plugins/modules/quay_robot.py", set()),
        (f"{COLL}/plugins/doc_fragments/attributes.py", set()),
        # What does not exist yet: a new role or module deploys with every scenario until the map
        # says better; a new scenario file selects its scenario; an unknown directory, everything.
        (f"{COLL}/roles/haproxy/tasks/main.yml", "all"),
        (f"{COLL}/plugins/modules/quay_mirror_example.py", "all"),
        ("molecule/containers/verify_s3.yml", {"molecule-containers"}),
        ("deploy/helm/quay-registry/Chart.yaml", "all"),
        ("scripts/new-tool", "all"),
    ],
)
def test_the_real_map_selects_honestly(real_map: Any, path: str, expected: str | set[str]) -> None:
    names = {j.name for j in real_map.jobs}
    assert job_selected_by(real_map, path) == (names if expected == "all" else expected)


def _yaml_files(*dirs: str) -> list[Path]:
    return [f for d in dirs for f in sorted((REPO_ROOT / d).rglob("*.yml"))]


def test_what_only_the_fast_tier_covers_is_used_by_no_deployment(real_map: Any, tracked: list[str]) -> None:
    """The modules the map keeps out of the heavy jobs are named by no role, playbook or scenario."""
    fast_modules = [
        Path(p).stem for p in tracked
        if p.startswith(f"{COLL}/plugins/modules/") and p.endswith(".py") and not job_selected_by(real_map, p)
    ]
    assert "quay_robot" in fast_modules  # the check below has something to check
    users = _yaml_files(f"{COLL}/roles", "playbooks", "molecule")
    for module in fast_modules:
        for f in users:
            assert not re.search(rf"\b(quay\.registry\.)?{module}:", f.read_text()), f"{f} uses {module}"
    # module_utils left out are imported only by such modules.
    for p in tracked:
        if p.startswith(f"{COLL}/plugins/module_utils/") and p.endswith(".py") and not job_selected_by(real_map, p):
            util = Path(p).stem
            for q in tracked:
                if q.startswith(f"{COLL}/plugins/") and q.endswith(".py") and job_selected_by(real_map, q):
                    assert f"module_utils.{util}" not in (REPO_ROOT / q).read_text(), f"{q} imports {util}"


def _scenario_vars(scenario: str) -> tuple[set[str], str]:
    """The inventory groups of a scenario's platforms and its quay_deploy_method."""
    data = yaml.safe_load((REPO_ROOT / "molecule" / scenario / "molecule.yml").read_text())
    groups = {g for platform in data["platforms"] for g in platform.get("groups", [])}
    all_vars = data["provisioner"]["inventory"]["group_vars"]["all"]
    return groups, all_vars["quay_deploy_method"]


def test_the_narrow_roles_select_every_scenario_that_runs_them(real_map: Any) -> None:
    """clair runs where a quay_clair host is; the container role with the podman and docker methods."""
    jobs = {j.argv: j.name for j in real_map.jobs}
    for molecule_yml in sorted((REPO_ROOT / "molecule").glob("*/molecule.yml")):
        scenario = molecule_yml.parent.name
        groups, method = _scenario_vars(scenario)
        name = jobs[("scripts/test-molecule", scenario)]
        clair = name in job_selected_by(real_map, f"{COLL}/roles/clair/tasks/main.yml")
        container = name in job_selected_by(real_map, f"{COLL}/roles/container/tasks/main.yml")
        assert clair == ("quay_clair" in groups), scenario
        assert container == (method in ("podman", "docker")), scenario
    # The stack: the single-node inventory's method (systemd) and a Clair host.
    stack_vars = yaml.safe_load((REPO_ROOT / "inventories/single-node/group_vars/all.yml").read_text())
    assert stack_vars["quay_deploy_method"] == "systemd"
    assert "quay_clair" in (REPO_ROOT / "inventories/local-stack/hosts.yml").read_text()
    assert "stack" in job_selected_by(real_map, f"{COLL}/roles/clair/tasks/main.yml")
    # upgrade.yml and uninstall.yml: only lifecycle runs them.
    for playbook in ("upgrade.yml", "uninstall.yml"):
        runners = {
            f.relative_to(REPO_ROOT / "molecule").parts[0] for f in _yaml_files("molecule") if playbook in f.read_text()
        }
        runners |= {"stack"} if playbook in (REPO_ROOT / "scripts/test-stack").read_text() else set()
        assert {jobs.get(("scripts/test-molecule", r), r) for r in runners} <= job_selected_by(
            real_map, f"playbooks/{playbook}"
        ), playbook
