#!/usr/bin/env python3
"""Trims the logs of every fff role to one request-sized text for the log-analysis workflow.

Each role gets its own section and its own share of the byte budget, so a chatty role (the
gateway logs every order and transfer) cannot push a quiet one (a scanner shard) out of the
request. Within a role's share, errors and warnings come first, grouped by message with a count
and the first and last time they were seen, then the newest lines as context.

Input: a directory with one file per role, `<role>.log`, as `fff up` writes them under
`.fff/logs/` (or as the workflow collects them from the journal of `fff@<role>`). Lines are the
roles' JSON log lines (`{"timestamp": ..., "level": ..., "message": ..., "target": ...}`); other
lines (a panic message, the plain output of `fff up`) are kept and classified by keyword.

    python3 trim_logs.py LOG_DIR --budget 600000 --since-hours 4 > logs-recent.txt

Standard library only: the workflow runs it on a bare runner.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

# Section order; any other `<name>.log` in the directory follows, sorted. `fff up` names the
# scanner's log scanner.log (the crate is market-scanner; both names are accepted).
ROLES = ["gateway", "scanner", "executor", "risk", "rebalancer", "sim", "up"]
ALIASES = {"market-scanner": "scanner", "fff-up": "up"}
# Of a role's share, at most this fraction goes to errors and warnings when there is also a tail
# to show; whatever they leave unused goes to the tail.
PROBLEM_FRACTION = 0.6
# A single line longer than this is cut (a huge span dump must not eat a role's whole share).
MAX_LINE_BYTES = 2000
LEVEL_ORDER = {"ERROR": 0, "WARN": 1}
TS_PREFIX = re.compile(r"^\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
PLAIN_ERROR = re.compile(r"\b(ERROR|FATAL|CRITICAL)\b|panicked at|\berror:", re.I)
PLAIN_WARN = re.compile(r"\bWARN(ING)?\b", re.I)
NUMBERS = re.compile(r"\d+(\.\d+)?")


@dataclass
class Line:
    raw: str
    ts: datetime | None
    level: str  # ERROR, WARN or "" (everything else)
    key: str  # what groups repeated problems: level, target, message with digits masked


@dataclass
class Group:
    level: str
    count: int = 0
    first: str = ""
    last: str = ""
    sample: str = ""
    order: int = 0  # index of the newest occurrence


@dataclass
class Role:
    name: str
    lines: list[Line] = field(default_factory=list)
    total: int = 0  # lines read before the time filter


def parse_ts(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # fromisoformat before 3.11 rejects more than 6 fraction digits
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def parse_line(raw: str) -> Line:
    raw = raw.rstrip("\r\n")
    if raw.startswith("{"):
        try:
            event = json.loads(raw)
        except ValueError:
            event = None
        if isinstance(event, dict):
            level = str(event.get("level", "")).upper()
            level = "WARN" if level == "WARNING" else level
            level = level if level in LEVEL_ORDER else ""
            message = str(event.get("message", ""))
            target = str(event.get("target", ""))
            error = str(event.get("error", ""))[:200]
            key = f"{level}|{target}|{NUMBERS.sub('#', message)}|{NUMBERS.sub('#', error)}"
            return Line(raw, parse_ts(str(event.get("timestamp", ""))), level, key)
    match = TS_PREFIX.match(raw)
    ts = parse_ts(match.group(1)) if match else None
    if PLAIN_ERROR.search(raw):
        level = "ERROR"
    elif PLAIN_WARN.search(raw):
        level = "WARN"
    else:
        level = ""
    body = raw[match.end():] if match else raw
    return Line(raw, ts, level, f"{level}||{NUMBERS.sub('#', body.strip())[:300]}")


def read_role(name: str, path: Path, cutoff: datetime | None) -> Role:
    role = Role(name)
    lines = [parse_line(raw) for raw in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines = [line for line in lines if line.raw.strip()]
    role.total = len(lines)
    if cutoff is None:
        role.lines = lines
        return role
    # A line without a timestamp (a panic message, a continuation) follows the decision made for
    # the line before it; before the first timestamp it is kept only if no line has one.
    keep = not any(line.ts for line in lines)
    for line in lines:
        if line.ts is not None:
            keep = line.ts >= cutoff
        if keep:
            role.lines.append(line)
    return role


def clip(text: str, limit: int = MAX_LINE_BYTES) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore") + f" …[{len(data) - limit} bytes cut]"


def size(text: str) -> int:
    return len(text.encode("utf-8")) + 1  # with its newline


def ts_text(line: Line) -> str:
    return line.ts.strftime("%Y-%m-%dT%H:%M:%SZ") if line.ts else "?"


def problem_groups(role: Role) -> list[Group]:
    groups: dict[str, Group] = {}
    for index, line in enumerate(role.lines):
        if not line.level:
            continue
        group = groups.setdefault(line.key, Group(line.level, first=ts_text(line)))
        group.count += 1
        group.last = ts_text(line)
        group.sample = line.raw
        group.order = index
    # errors before warnings, then the most frequent, then the most recent
    return sorted(groups.values(), key=lambda g: (LEVEL_ORDER[g.level], -g.count, -g.order))


def render_problems(groups: list[Group], budget: int) -> tuple[list[str], int]:
    out: list[str] = []
    used = 0
    for group in groups:
        text = f"[{group.level} x{group.count} {group.first} .. {group.last}] {clip(group.sample)}"
        if used + size(text) > budget:
            continue  # a shorter one further down may still fit
        out.append(text)
        used += size(text)
    return out, used


def render_tail(role: Role, budget: int) -> list[str]:
    out: list[str] = []
    used = 0
    for line in reversed(role.lines):
        text = clip(line.raw)
        if used + size(text) > budget:
            break
        out.append(text)
        used += size(text)
    out.reverse()
    return out


def render_role(role: Role, budget: int) -> str:
    groups = problem_groups(role)
    errors = sum(g.count for g in groups if g.level == "ERROR")
    warnings = sum(g.count for g in groups if g.level == "WARN")
    span = f"{ts_text(role.lines[0])} .. {ts_text(role.lines[-1])}" if role.lines else "no lines"
    header = (
        f"### {role.name}: {len(role.lines)} lines in the window ({errors} errors, {warnings} "
        f"warnings in {len(groups)} distinct messages), {span}"
    )
    out = [header]
    budget -= size(header)
    tail_bytes = sum(size(clip(line.raw)) for line in role.lines)
    problem_budget = budget if tail_bytes == 0 else max(int(budget * PROBLEM_FRACTION), budget - tail_bytes)
    problems, used = render_problems(groups, max(problem_budget - 160, 0))
    if groups:
        title = f"#### {role.name}: errors and warnings ({len(problems)} of {len(groups)} messages shown; count, first and last seen, newest line)"
        out += [title, *problems]
        used += size(title)
    tail = render_tail(role, max(budget - used - 80, 0))
    if role.lines:
        title = f"#### {role.name}: last {len(tail)} of {len(role.lines)} lines"
        out += [title, *tail]
    return "\n".join(out) + "\n"


def shares(needs: dict[str, int], total: int) -> dict[str, int]:
    """Splits `total` fairly: a role that needs less than an equal share keeps only what it
    needs, and the rest is split again among the others (water-filling)."""
    result: dict[str, int] = {}
    left = dict(needs)
    remaining = total
    while left:
        share = remaining // len(left)
        small = {name: need for name, need in left.items() if need <= share}
        if not small:
            for name in left:
                result[name] = share
            break
        for name, need in small.items():
            result[name] = need
            remaining -= need
            del left[name]
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log_dir", type=Path)
    parser.add_argument("--budget", type=int, default=600_000, help="bytes of output, in all")
    parser.add_argument("--since-hours", type=float, default=0, help="drop older lines (0: keep all)")
    parser.add_argument("--now", help="ISO time to measure --since-hours from (tests)")
    args = parser.parse_args(argv)

    now = parse_ts(args.now) if args.now else datetime.now(timezone.utc)
    cutoff = now - timedelta(hours=args.since_hours) if args.since_hours > 0 else None
    files: dict[str, Path] = {}
    for path in sorted(args.log_dir.glob("*.log")):
        name = ALIASES.get(path.stem, path.stem)
        if name in files:  # scanner.log and market-scanner.log: keep the bigger one
            if path.stat().st_size <= files[name].stat().st_size:
                continue
        files[name] = path
    order = [r for r in ROLES if r in files] + sorted(set(files) - set(ROLES))
    roles = [read_role(name, files[name], cutoff) for name in order]

    preamble = "Each role's section: errors and warnings first (grouped), then its newest lines.\n"
    budget = args.budget - size(preamble)
    # What each role would need to be sent whole: its lines plus headers.
    needs = {role.name: sum(size(clip(line.raw)) for line in role.lines) * 2 + 1000 for role in roles}
    allotted = shares(needs, max(budget, 0))
    sections = [render_role(role, allotted[role.name]) for role in roles]
    sys.stdout.write(preamble + "".join(sections))
    for role, section in zip(roles, sections):
        print(
            f"{role.name}: {role.total} lines read, {len(role.lines)} in the window, "
            f"{len(section.encode())} of {allotted[role.name]} bytes sent",
            file=sys.stderr,
        )
    missing = [r for r in ROLES if r not in files and r != "up"]
    if missing:
        print(f"no log for: {', '.join(missing)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
