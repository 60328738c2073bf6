"""Offline check of deploy/prometheus/alerts.yml: the rule-file structure Prometheus expects,
and every fff_* metric an expression names is one the code exports (a renamed metric would
otherwise silence its alert without any error)."""
import re
import sys
from pathlib import Path

import yaml

root = Path(__file__).resolve().parent.parent
rules = yaml.safe_load((root / "deploy/prometheus/alerts.yml").read_text())
exported = set()
for path in list(root.glob("services/*/src/**/*.rs")) + list(root.glob("crates/*/src/**/*.rs")):
    exported |= set(re.findall(r'"(fff_[a-z0-9_]+)"', path.read_text()))
errors = []
names = set()
for group in rules.get("groups", []):
    if not group.get("name"):
        errors.append("a group has no name")
    for rule in group.get("rules", []):
        alert = rule.get("alert")
        if not alert:
            errors.append(f"{group.get('name')}: a rule has no alert name")
            continue
        if alert in names:
            errors.append(f"{alert}: duplicate alert name")
        names.add(alert)
        unknown = set(rule) - {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        if unknown:
            errors.append(f"{alert}: unknown keys {sorted(unknown)}")
        expr = rule.get("expr", "")
        if not isinstance(expr, str) or not expr.strip():
            errors.append(f"{alert}: empty expr")
        if expr.count("(") != expr.count(")"):
            errors.append(f"{alert}: unbalanced parentheses in expr")
        for metric in re.findall(r"\bfff_[a-z0-9_]+\b", expr):
            if metric not in exported:
                errors.append(f"{alert}: metric {metric} is not exported by any role")
        if "for" in rule and not re.fullmatch(r"\d+[smhd]", str(rule["for"])):
            errors.append(f"{alert}: bad duration {rule['for']!r}")
        if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
            errors.append(f"{alert}: labels.severity must be warning or critical")
        if not rule.get("annotations", {}).get("summary"):
            errors.append(f"{alert}: annotations.summary missing")
prometheus = yaml.safe_load((root / "deploy/prometheus/prometheus.yml").read_text())
if "/etc/prometheus/alerts.yml" not in prometheus.get("rule_files", []):
    errors.append("prometheus.yml does not load /etc/prometheus/alerts.yml")
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(f"{len(names)} alert rules ok")
