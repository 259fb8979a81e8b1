#!/usr/bin/env bash
# Checks the Prometheus alert rules and the Grafana dashboard in packaging/:
#   - promtool check rules / test rules on packaging/prometheus/lbs-agent.rules*.yml;
#   - the dashboard packaging/grafana/lbs-agent.json parses, and its queries are valid PromQL
#     (promtool checks them as recording rules, with the Grafana variables filled in);
#   - every metric name used by the rules, their tests and the dashboard is one the agent serves
#     (KNOWN below, the families src/prometheus.rs writes) or `up`;
#   - every alert has a unit test.
# Needs promtool (Debian: apt-get install prometheus) and python3 with PyYAML.
set -euo pipefail
cd "$(dirname "$0")/.."

RULES=packaging/prometheus/lbs-agent.rules.yml
TESTS=packaging/prometheus/lbs-agent.rules.test.yml
DASHBOARD=packaging/grafana/lbs-agent.json

# The metric families lbs-agent serves at /api/v1/metrics, plus `up` (written by Prometheus).
KNOWN="
up
lbs_agent_info
lbs_agent_start_time_seconds
lbs_role_primary
lbs_role_epoch
lbs_partner_paired
lbs_partner_reachable
lbs_partner_last_contact_timestamp_seconds
lbs_partner_clock_skew_seconds
lbs_link_round_trip_seconds
lbs_link_heartbeat_loss_ratio
lbs_maintenance_active
lbs_maintenance_end_timestamp_seconds
lbs_autopilot_armed
lbs_autopilot_switched_on
lbs_autopilot_vote_quorum
lbs_autopilot_vote_member_up
lbs_autopilot_fenced
lbs_sync_link_up
lbs_sync_local_files
lbs_sync_local_bytes
lbs_sync_pending_files
lbs_sync_pending_bytes
lbs_sync_lag_seconds
lbs_health_differences
lbs_disk_health_state
lbs_sync_last_success_timestamp_seconds
lbs_sync_error
lbs_sync_skipped_files
lbs_failover_caught_up
lbs_pbx_managed
lbs_pbx_should_run
lbs_pbx_running
lbs_address_held
lbs_quarantined_files
lbs_cpu_usage_ratio
lbs_memory_used_bytes
lbs_memory_total_bytes
lbs_swap_used_bytes
lbs_processes
lbs_load_average
lbs_disk_used_ratio
lbs_disk_read_bytes_per_second
lbs_disk_write_bytes_per_second
lbs_network_receive_bytes_per_second
lbs_network_transmit_bytes_per_second
lbs_pbx_active_calls
lbs_pbx_registered_phones
lbs_alerts_open
lbs_alerts_queued
lbs_alert_channel_failing
lbs_alert_channel_last_success_timestamp_seconds
"

if ! command -v promtool >/dev/null; then
    echo "promtool is missing: apt-get install prometheus (or get it from prometheus.io)" >&2
    exit 1
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
    echo "python3 has no PyYAML: apt-get install python3-yaml (or pip install pyyaml)" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "promtool check rules"
promtool check rules "$RULES"

say "promtool test rules"
promtool test rules "$TESTS"

say "Grafana dashboard and metric names"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
KNOWN="$KNOWN" python3 - "$RULES" "$TESTS" "$DASHBOARD" "$tmp/dashboard.rules.yml" <<'PY'
import json
import os
import re
import sys

import yaml

rules_path, tests_path, dashboard_path, dash_rules_path = sys.argv[1:]
known = set(os.environ["KNOWN"].split())
problems = []

KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "atan2", "inf", "nan",
}


def metric_names(expr):
    """Metric names a PromQL expression selects (Grafana variables allowed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\$\{[^}]*\}|\$\w+", "", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges, subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+-?\w+|@\s*[\w.()]+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.:])[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in KEYWORDS or re.match(r"\s*\(", e[m.end():]):
            continue  # a keyword, or a function or aggregation
        names.add(word)
    # `foo{...}` is also spelled `{__name__="foo"}`
    names.update(re.findall(r'__name__\s*=\s*"([^"]+)"', expr))
    return names


def check(where, expr):
    for name in sorted(metric_names(expr) - known):
        problems.append(f"{where}: unknown metric `{name}` in: {expr.strip()}")


# The rules.
rules = yaml.safe_load(open(rules_path))
alerts = []
for group in rules["groups"]:
    for rule in group["rules"]:
        name = rule.get("alert") or rule.get("record")
        check(f"{rules_path}: {name}", rule["expr"])
        if "alert" in rule:
            alerts.append(rule["alert"])
            if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                problems.append(f"{rules_path}: {name}: severity must be critical or warning")
            for key in ("summary", "description"):
                if not rule.get("annotations", {}).get(key):
                    problems.append(f"{rules_path}: {name}: no {key} annotation")

# The tests: their input series use known names, and every alert is tested both quiet and firing.
tests = yaml.safe_load(open(tests_path))
quiet, firing = set(), set()
for test in tests["tests"]:
    for series in test.get("input_series", []):
        check(f"{tests_path}: {test.get('name')}", series["series"])
    for case in test.get("alert_rule_test", []):
        (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
for alert in alerts:
    if alert not in firing:
        problems.append(f"{tests_path}: no test where {alert} fires")
    if alert not in quiet:
        problems.append(f"{tests_path}: no test where {alert} stays quiet")
for name in sorted((quiet | firing) - set(alerts)):
    problems.append(f"{tests_path}: tests an alert the rules do not have: {name}")

# The dashboard.
try:
    dashboard = json.load(open(dashboard_path))
except (OSError, ValueError) as e:
    print(f"{dashboard_path}: {e}", file=sys.stderr)
    sys.exit(1)

exprs = []  # (where, PromQL)


def walk(node, where):
    if isinstance(node, dict):
        title = node.get("title") or node.get("name") or where
        if isinstance(node.get("expr"), str):
            exprs.append((title, node["expr"]))
        for value in node.values():
            walk(value, title)
    elif isinstance(node, list):
        for value in node:
            walk(value, where)


walk(dashboard.get("panels", []), "panel")
walk(dashboard.get("annotations", {}), "annotation")
for var in dashboard.get("templating", {}).get("list", []):
    if var.get("type") != "query":
        continue
    query = var.get("query")
    query = query.get("query", "") if isinstance(query, dict) else query or ""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    if m:
        exprs.append((f"variable {var['name']}", m.group(1)))
    elif query:
        exprs.append((f"variable {var['name']}", query))
if not exprs:
    problems.append(f"{dashboard_path}: no queries found")
for where, expr in exprs:
    check(f"{dashboard_path}: {where}", expr)
for name in ("job", "instance"):
    if not any(v.get("name") == name for v in dashboard.get("templating", {}).get("list", [])):
        problems.append(f"{dashboard_path}: no template variable `{name}`")


# The dashboard's queries as recording rules, for promtool to check their syntax.
def fill(expr):
    expr = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # $__interval, $__rate_interval, ...
    return re.sub(r"\$\{[^}]*\}|\$\w+", "x", expr)


with open(dash_rules_path, "w") as f:
    yaml.safe_dump(
        {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:query{i}", "expr": fill(expr)} for i, (_, expr) in enumerate(exprs)
        ]}]},
        f,
    )

for p in problems:
    print(p, file=sys.stderr)
if problems:
    sys.exit(1)
print(f"{len(alerts)} alerts, all tested; {len(exprs)} dashboard queries; all metric names known")
PY

say "promtool: the dashboard's queries are valid PromQL"
promtool check rules "$tmp/dashboard.rules.yml"

say "OK"
