"""Pick the heavy test jobs a change needs, from the map in .ci/tiers.yml.

scripts/test (and so .ci/run) always runs the fast tier; the heavy jobs (molecule scenarios, the
local stack, ...) take most of CI's 90 minutes, so each runs only when a path it depends on
changed since the last commit at which the whole suite passed (`.ci/last-full-run`, written by a
developer after `scripts/test --all`, never by CI). Whenever that cannot be known for sure, every
job runs: no such file, a commit this clone does not have, not a git checkout, a change to the
map or to the scripts that run the jobs, or a changed path the map does not know (no job selects
it, and it is neither documentation nor declared fast-only).

    python .ci/tiers.py plan [--all] [--heavy NAME...] [--without-fast]
    python .ci/tiers.py list
    python .ci/tiers.py unmapped      tracked files the map does not place (each would run everything)

prints the explanation on stderr and one line per heavy job to run on stdout:
``NAME ARG...`` (the command, relative to the repository root). Only PyYAML and the standard
library are needed (PyYAML is a dependency of registry_app).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

MAP_PATH = ".ci/tiers.yml"
LAST_FULL_RUN = ".ci/last-full-run"
# Changing these always runs everything, whatever the map says.
ALWAYS_ALL = (MAP_PATH, ".ci/tiers.py")
ALL_ENV = "QUAY_CI_ALL"
_ARG = re.compile(r"^[A-Za-z0-9_./=:@%+-]+$")


class MapError(ValueError):
    """The map is malformed (a bad glob, an unknown set, a job without a command)."""


@cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a git-style glob: `*` and `?` stay in one path component, `**` spans any number.

    `dir/**` matches everything under dir, `**/x` matches x in any directory, `a/**/b` matches
    a/b, a/x/b, ... (as git's `:(glob)` pathspecs and .gitignore do).
    """
    if not pattern or pattern.startswith("/") or pattern.endswith("/"):
        raise MapError(f"bad pattern {pattern!r}: a repository path without a leading or trailing slash")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            before_ok = i == 0 or pattern[i - 1] == "/"
            after = pattern[i + 2 : i + 3]
            if not before_ok or after not in ("", "/"):
                raise MapError(f"bad pattern {pattern!r}: ** must be a whole path component")
            if after == "/":
                out.append("(?:[^/]+/)*")  # zero or more directories
                i += 3
            else:
                out.append(".+" if i > 0 else ".*")  # everything below (dir/** needs something)
                i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            raise MapError(f"bad pattern {pattern!r}: character classes are not supported")
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    return glob_regex(pattern).match(path) is not None


@dataclass(frozen=True)
class Job:
    """A heavy job; ``paths`` in order, ``!`` for exclusions: the last pattern matching a path decides
    (as in .gitignore), so a set can leave out what a later, narrower pattern adds back."""

    name: str
    argv: tuple[str, ...]
    minutes: float
    paths: tuple[str, ...]

    def selects(self, path: str) -> bool:
        chosen = False
        for p in self.paths:
            negated = p.startswith("!")
            if matches(p.removeprefix("!"), path):
                chosen = not negated
        return chosen


@dataclass(frozen=True)
class TierMap:
    jobs: tuple[Job, ...]
    all_when_changed: tuple[str, ...]
    ignore: tuple[str, ...]
    fast_only: tuple[str, ...] = ()
    budget_minutes: float = 70.0
    fast_minutes: float = 0.0
    setup_minutes: float = 0.0

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise MapError(f"no heavy job {name!r} (known: {', '.join(j.name for j in self.jobs)})")

    def unknown(self, paths: Iterable[str]) -> list[str]:
        """Paths no job selects that are neither ignored nor fast-only: nothing says what they need."""
        known = (*ALWAYS_ALL, *self.all_when_changed, *self.ignore, *self.fast_only)
        return [p for p in paths if not any(j.selects(p) for j in self.jobs) and not any(matches(g, p) for g in known)]

    def patterns(self) -> Iterable[str]:
        yield from self.all_when_changed
        yield from self.ignore
        yield from self.fast_only
        for job in self.jobs:
            yield from (p.removeprefix("!") for p in job.paths)


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MapError(f"{where}: expected a list of non-empty strings")
    return list(value)


def _minutes(spec: dict[str, object], key: str, where: str, default: float = 0.0) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise MapError(f"{where}{key}: a number of minutes")
    return float(value)


def _expand(patterns: list[str], sets: Mapping[str, list[str]], where: str, depth: int = 0) -> list[str]:
    """Replace `@name` by the set's patterns and `!@name` by them negated (sets may nest)."""
    out: list[str] = []
    for p in patterns:
        negate = p.startswith("!@")
        if not (negate or p.startswith("@")):
            out.append(p)
            continue
        name = p[2:] if negate else p[1:]
        if name not in sets:
            raise MapError(f"{where}: no set {name!r}")
        if depth > 8:
            raise MapError(f"{where}: sets nested too deep at {name!r}")
        for q in _expand(sets[name], sets, where, depth + 1):
            if negate:
                q = q.removeprefix("!") if q.startswith("!") else "!" + q
            out.append(q)
    return out


def parse_map(data: object) -> TierMap:
    """Validate the YAML document and expand `@set` references."""
    if not isinstance(data, dict):
        raise MapError("the map must be a mapping")
    sets_raw = data.get("sets", {})
    if not isinstance(sets_raw, dict):
        raise MapError("sets: expected a mapping")
    sets = {str(k): _strings(v, f"sets.{k}") for k, v in sets_raw.items()}
    heavy = data.get("heavy")
    if not isinstance(heavy, dict) or not heavy:
        raise MapError("heavy: expected a mapping of job names")
    jobs = []
    for name, spec in heavy.items():
        if not isinstance(spec, dict):
            raise MapError(f"heavy.{name}: expected a mapping")
        run = spec.get("run")
        argv = run.split() if isinstance(run, str) else []
        if not argv or not all(_ARG.match(a) for a in argv):
            raise MapError(f"heavy.{name}.run: a command whose arguments are plain words")
        minutes = _minutes(spec, "minutes", f"heavy.{name}.")
        paths = _expand(_strings(spec.get("paths"), f"heavy.{name}.paths"), sets, f"heavy.{name}.paths")
        if all(q.startswith("!") for q in paths):
            raise MapError(f"heavy.{name}.paths: nothing selects it")
        jobs.append(Job(str(name), tuple(argv), float(minutes), tuple(paths)))
    tiermap = TierMap(
        jobs=tuple(jobs),
        all_when_changed=tuple(_strings(data.get("all_when_changed", []), "all_when_changed")),
        ignore=tuple(_strings(data.get("ignore", []), "ignore")),
        fast_only=tuple(_fast_only(data, sets)),
        budget_minutes=_minutes(data, "budget_minutes", "", 70.0),
        fast_minutes=_minutes(data, "fast_minutes", ""),
        setup_minutes=_minutes(data, "setup_minutes", ""),
    )
    for p in tiermap.patterns():
        glob_regex(p)  # every pattern compiles, or the map is refused before anything runs
    return tiermap


def _fast_only(data: dict[object, object], sets: Mapping[str, list[str]]) -> list[str]:
    patterns = _expand(_strings(data.get("fast_only", []), "fast_only"), sets, "fast_only")
    if any(p.startswith("!") for p in patterns):
        raise MapError("fast_only: no exclusions (a path is fast-only or it is not)")
    return patterns


def load_map(root: Path) -> TierMap:
    with open(root / MAP_PATH, encoding="utf-8") as f:
        return parse_map(yaml.safe_load(f))


@dataclass
class Plan:
    """What runs: every job (``run_all`` with ``reason``) or the jobs the changed paths select."""

    run_all: bool
    reason: str
    base: str | None = None
    changed: list[str] = field(default_factory=list)
    selected: dict[str, list[str]] = field(default_factory=dict)  # job name -> paths selecting it


def select(tiermap: TierMap, changed: Iterable[str]) -> Plan:
    """Decide from a list of changed repository paths (the pure part, tested with fake diffs)."""
    changed = sorted(set(changed))
    always = [*ALWAYS_ALL, *tiermap.all_when_changed]
    forcing = [p for p in changed if any(matches(a, p) for a in always)]
    if forcing:
        return Plan(True, f"changed: {', '.join(forcing)} (runs every heavy job)", changed=changed)
    unknown = tiermap.unknown(changed)
    if unknown:
        return Plan(
            True,
            f"not in the map: {', '.join(unknown[:5])}{f' (+{len(unknown) - 5} more)' if len(unknown) > 5 else ''}"
            f" (runs every heavy job; place them in {MAP_PATH}: a job's paths, fast_only or ignore)",
            changed=changed,
        )
    relevant = [p for p in changed if not any(matches(i, p) for i in tiermap.ignore)]
    selected = {}
    for job in tiermap.jobs:
        hits = [p for p in relevant if job.selects(p)]
        if hits:
            selected[job.name] = hits
    return Plan(False, f"{len(changed)} path(s) changed", changed=changed, selected=selected)


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


def changed_since(root: Path, base: str) -> list[str] | None:
    """Paths that differ between commit ``base`` and the working tree (untracked files too).

    In CI's fresh clone the working tree is HEAD, so this is `git diff BASE HEAD`; on a developer's
    machine their uncommitted edits count as well. Renames count as both paths. None: git failed.
    """
    diff = _git(root, "diff", "--name-only", "--no-renames", "-z", base, "--")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if diff is None or untracked is None:
        return None
    return [p for p in (diff + untracked).split("\0") if p]


def plan(root: Path, tiermap: TierMap, env: Mapping[str, str]) -> Plan:
    """The heavy jobs for this checkout: everything unless the change since the last full run is known."""
    if env.get(ALL_ENV, "").lower() not in ("", "0", "false", "no"):
        return Plan(True, f"{ALL_ENV}={env[ALL_ENV]}")
    if _git(root, "rev-parse", "--git-dir") is None:
        return Plan(True, "not a git checkout")
    try:
        base = (root / LAST_FULL_RUN).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return Plan(True, f"no {LAST_FULL_RUN}")
    if not re.fullmatch(r"[0-9a-f]{7,64}", base):
        return Plan(True, f"{LAST_FULL_RUN} holds no commit id")
    commit = _git(root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    if commit is None:
        return Plan(True, f"{LAST_FULL_RUN}: commit {base} is not in this clone")
    changed = changed_since(root, commit.strip())
    if changed is None:
        return Plan(True, f"git diff {base} failed")
    result = select(tiermap, changed)
    result.base = base
    return result


def describe(p: Plan, tiermap: TierMap, only: list[str] | None, fast: bool = True, limit: int = 5) -> str:
    """The human explanation: which heavy jobs run and which changed paths picked them."""
    lines = []
    if only is not None:
        lines.append(f"heavy jobs as asked: {' '.join(only) or '(none)'}")
        names = only
    elif p.run_all:
        lines.append(f"heavy jobs: all ({p.reason})")
        names = [j.name for j in tiermap.jobs]
    else:
        base = (p.base or "")[:12]
        lines.append(f"heavy jobs picked by the paths changed since {LAST_FULL_RUN} ({base}): {p.reason}")
        names = list(p.selected)
        for name, hits in p.selected.items():
            more = f" (+{len(hits) - limit} more)" if len(hits) > limit else ""
            lines.append(f"  {name} <- {', '.join(hits[:limit])}{more}")
        skipped = [j.name for j in tiermap.jobs if j.name not in p.selected]
        if skipped:
            lines.append(f"  not needed: {', '.join(skipped)} (no changed path is theirs)")
    heavy = sum(tiermap.job(n).minutes for n in names)
    fast_minutes = tiermap.fast_minutes if fast else 0.0
    setup = tiermap.setup_minutes if fast else 0.0
    total = heavy + fast_minutes + setup
    lines.append(
        f"  estimate: heavy ~{heavy:g} min + fast ~{fast_minutes:g} min"
        f"{f' + setup ~{setup:g} min' if setup else ''} = ~{total:g} min"
        f" of CI's {tiermap.budget_minutes:g}-minute budget (the map's durations)"
    )
    if total > tiermap.budget_minutes:
        lines.append(
            "  OVER BUDGET: CI has 90 minutes in all. Record a full run (scripts/test --all --record),"
            " narrow the jobs' paths, or make a job cheaper (README: Tests: tiers)."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p_plan = sub.add_parser("plan", help="the heavy jobs to run (stdout) and why (stderr)")
    p_plan.add_argument("--all", action="store_true", help="every heavy job")
    p_plan.add_argument("--heavy", nargs="*", metavar="NAME", help="exactly these heavy jobs")
    p_plan.add_argument("--without-fast", action="store_true", help="the fast tier does not run (estimate)")
    sub.add_parser("list", help="every heavy job with its command and patterns")
    sub.add_parser("unmapped", help="tracked files the map does not place (each would run every heavy job)")
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    try:
        tiermap = load_map(root)
        if args.command == "list":
            for job in tiermap.jobs:
                print(f"{job.name}: {' '.join(job.argv)} (~{job.minutes:g} min)")
                print("".join(f"  {p}\n" for p in job.paths), end="")
            return 0
        if args.command == "unmapped":
            tracked = _git(root, "ls-files", "-z")
            if tracked is None:
                print("tiers: not a git checkout", file=sys.stderr)
                return 2
            unknown = tiermap.unknown(p for p in tracked.split("\0") if p)
            for path in unknown:
                print(path)
            return 1 if unknown else 0
        only = None
        if args.heavy is not None:
            only = [tiermap.job(n).name for n in args.heavy]
            result = Plan(False, "--heavy")
        elif args.all:
            result = Plan(True, "--all")
        else:
            result = plan(root, tiermap, os.environ)
    except (MapError, OSError, yaml.YAMLError) as e:
        print(f"tiers: {MAP_PATH}: {e}", file=sys.stderr)
        return 2
    print(describe(result, tiermap, only, fast=not args.without_fast), file=sys.stderr)
    names = only if only is not None else [j.name for j in tiermap.jobs if result.run_all or j.name in result.selected]
    for name in names:
        print(name, *tiermap.job(name).argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
