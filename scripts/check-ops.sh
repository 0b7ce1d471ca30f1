#!/usr/bin/env bash
# Static checks of the operator-facing assets (there is no Docker engine and no Grafana on CI):
# Prometheus config, alert rules and their unit tests (promtool), metric and label names
# against src/telemetry.rs, the Grafana provisioning and dashboards, docker-compose.yml, the
# Dockerfile. Every check runs and reports; the last line is `ops-checks: N passed, M failed`
# and the exit status is non-zero when M > 0.
#
#   scripts/check-ops.sh
#
# Needs promtool (Debian package `prometheus`, installed here when missing and running as root;
# note the package also ships the Prometheus server, which systemd hosts start) and python3
# with PyYAML (installed with pip or apt when missing). Exit status 3: a tool is missing and
# cannot be installed. tests/ops_assets.rs runs this script as part of `cargo test`.
set -uo pipefail
cd "$(dirname "$0")/.."

readonly TOOLS_MISSING=3

die_tools() {
    echo "check-ops: $*" >&2
    exit "$TOOLS_MISSING"
}

is_root() {
    [[ "$(id -u)" -eq 0 ]]
}

ensure_promtool() {
    command -v promtool >/dev/null 2>&1 && return 0
    is_root || die_tools "promtool not found and not running as root: install it" \
        "(sudo apt-get install prometheus) and run again"
    echo "check-ops: promtool not found; installing the Debian package prometheus" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 &&
        apt-get install -y -qq --no-install-recommends prometheus >&2 ||
        die_tools "cannot install the prometheus package"
    command -v promtool >/dev/null 2>&1 || die_tools "promtool still not on PATH after install"
}

ensure_pyyaml() {
    command -v python3 >/dev/null 2>&1 || die_tools "python3 not found"
    python3 -c 'import yaml, tomllib' 2>/dev/null && return 0
    python3 -c 'import tomllib' 2>/dev/null || die_tools "python3 >= 3.11 is required (tomllib)"
    echo "check-ops: PyYAML not found; installing it" >&2
    python3 -m pip install -q pyyaml >&2 ||
        { is_root && apt-get install -y -qq python3-yaml >&2; } ||
        die_tools "cannot install PyYAML (pip install pyyaml)"
    python3 -c 'import yaml' 2>/dev/null || die_tools "PyYAML still not importable"
}

ensure_promtool
ensure_pyyaml

work_dir="$(mktemp -d "${TMPDIR:-/tmp}/check-ops.XXXXXX")"
trap 'rm -rf -- "$work_dir"' EXIT

passed=0
failed=0

# check NAME COMMAND...: runs one check, prints ok/FAIL and, on failure, its output.
check() {
    local name="$1" output
    shift
    if output="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/       /' <<<"$output"
    fi
}

# The Python half of the checks; `helper SUBCOMMAND [ARGS]`. Prints problems, exits 1 on any.
read -r -d '' HELPER <<'PY'
import json, os, re, sys, tomllib, urllib.parse
from pathlib import Path

import yaml

TELEMETRY = Path("src/telemetry.rs")
RULES = Path("config/prometheus-rules.yml")
RULES_TEST = Path("config/prometheus-rules.test.yml")
PROM_CONFIG = Path("config/prometheus.yml")
COMPOSE = Path("docker-compose.yml")
COMPOSE_TOML = Path("config/compose.toml")
DATASOURCES = Path("grafana/provisioning/datasources")
PROVIDERS = Path("grafana/provisioning/dashboards")
DASHBOARDS = Path("grafana/dashboards")
HIST_SUFFIXES = ("_bucket", "_sum", "_count")
TARGET_LABELS = {"job", "instance"}  # added by Prometheus at scrape time
problems = []


def problem(msg):
    problems.append(msg)


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------- telemetry.rs
def telemetry():
    """metric name -> {"kind": counter|gauge|histogram|None, "labels": set}"""
    src = TELEMETRY.read_text()
    consts = dict(re.findall(r'pub const ([A-Z0-9_]+): &str = "([^"]+)";', src))
    metrics = {name: {"kind": None, "labels": set()} for name in consts.values()}
    for m in re.finditer(r"\b(counter|gauge|histogram)!\(", src):
        depth, i = 1, m.end()
        while depth and i < len(src):
            depth += {"(": 1, ")": -1}.get(src[i], 0)
            i += 1
        args = src[m.end():i - 1]
        const = re.match(r"\s*([A-Z0-9_]+)", args)
        if not const or const.group(1) not in consts:
            problem(f"{TELEMETRY}: {m.group(1)}! with a name that is not a constant: {args[:60]!r}")
            continue
        entry = metrics[consts[const.group(1)]]
        entry["kind"] = m.group(1)
        entry["labels"] |= set(re.findall(r'"([a-z_]+)"\s*=>', args))
        # `counter!(NAME, &labels)`: the labels are the `("key", value)` pairs of the nearest
        # `let labels = [...]` before the call (venue_health builds its label sets that way).
        ref = re.fullmatch(r"\s*[A-Z0-9_]+\s*,\s*&(\w+)\s*,?\s*", args)
        if ref:
            lets = list(re.finditer(rf"\blet\s+{ref.group(1)}\s*=\s*\[", src[:m.start()]))
            pairs = set()
            if lets:
                depth, j = 1, lets[-1].end()
                while depth and j < len(src):
                    depth += {"[": 1, "]": -1}.get(src[j], 0)
                    j += 1
                pairs = set(re.findall(r'\(\s*"([a-z_]+)"\s*,', src[lets[-1].end():j - 1]))
            if not pairs:
                problem(f"{TELEMETRY}: {m.group(1)}!({args.strip()}): no `let {ref.group(1)} = "
                        f"[(\"label\", value), ...]` before it")
            entry["labels"] |= pairs
    if not metrics:
        problem(f"{TELEMETRY}: no metric constants found")
    return metrics


def base_metric(token, metrics):
    """The declared metric a series name belongs to, or None."""
    if token in metrics:
        return token
    for suffix in HIST_SUFFIXES:
        base = token[: -len(suffix)]
        if token.endswith(suffix) and metrics.get(base, {}).get("kind") == "histogram":
            return base
    return None


def allowed_labels(token, metrics):
    if token == "up":
        return set(TARGET_LABELS)
    base = base_metric(token, metrics)
    if base is None:
        return None
    labels = metrics[base]["labels"] | TARGET_LABELS
    if token.endswith("_bucket"):
        labels.add("le")
    return labels


# ---------------------------------------------------------------- expressions
def rule_exprs():
    """(where, expr, rule) for every rule in the rules file."""
    out = []
    for group in load_yaml(RULES)["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            out.append((f"{RULES} {name}", str(rule["expr"]), rule))
    return out


def iter_panels(panels):
    for p in panels or []:
        yield p
        yield from iter_panels(p.get("panels"))


def dashboards():
    files = sorted(DASHBOARDS.glob("*.json"))
    if not files:
        problem(f"no dashboards in {DASHBOARDS}")
    out = []
    for path in files:
        try:
            out.append((path, json.loads(path.read_text())))
        except json.JSONDecodeError as e:
            problem(f"{path}: invalid JSON: {e}")
    return out


def dashboard_exprs():
    """(where, expr, legend) for every panel target of every dashboard."""
    out = []
    for path, dash in dashboards():
        for p in iter_panels(dash.get("panels")):
            for t in p.get("targets") or []:
                if "expr" in t:
                    where = f"{path} panel {p.get('id')} {p.get('title')!r} target {t.get('refId')}"
                    out.append((where, t["expr"], t.get("legendFormat", "")))
    return out


def template_queries():
    out = []
    for path, dash in dashboards():
        for var in (dash.get("templating") or {}).get("list", []):
            if var.get("type") != "query":
                continue
            q = var.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            out.append((f"{path} variable {var.get('name')}", q))
    return out


STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
SELECTOR = re.compile(r"(?<![\w:$])([a-zA-Z_][\w:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
METRIC_TOKEN = re.compile(r"(?<![\w:$.])(omsd_[a-z0-9_]+|up)\b(?!\s*\()")
RECORDED = re.compile(r"(?<![\w:$])([a-zA-Z_]\w*:[\w:]*)")


def check_expr_labels(where, expr, metrics, extra_labels=()):
    """Labels in selectors must belong to their metric; grouping and template labels must belong
    to some metric of the expression. Returns the labels available in the expression."""
    available = set(TARGET_LABELS)
    for m in METRIC_TOKEN.finditer(STRING.sub('""', expr)):
        labels = allowed_labels(m.group(1), metrics)
        if labels is not None:
            available |= labels
    for m in SELECTOR.finditer(expr):
        token = m.group(1)
        if not (token.startswith("omsd_") or token == "up"):
            continue
        labels = allowed_labels(token, metrics)
        if labels is None:
            continue  # reported by the metric-name check
        for label in MATCHER.findall(m.group(2)):
            if label not in labels:
                problem(f"{where}: {token} has no label '{label}' (telemetry.rs: {sorted(labels)})")
    for m in GROUPING.finditer(STRING.sub('""', expr)):
        for label in filter(None, (x.strip() for x in m.group(1).split(","))):
            if label not in available:
                problem(f"{where}: label '{label}' in '{m.group(0)}' is on no metric of the expression")
    for label in extra_labels:
        if label not in available:
            problem(f"{where}: template label '{label}' is on no metric of the expression")
    return available


def check_names(where, text, metrics):
    found = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        for m in re.finditer(r"(?<![A-Za-z0-9_])omsd_[a-z0-9_]+", line):
            found += 1
            if base_metric(m.group(0), metrics) is None:
                problem(f"{where}:{lineno}: '{m.group(0)}' is not a metric of src/telemetry.rs")
    return found


# ---------------------------------------------------------------- subcommands
def cmd_rules_lint():
    config = load_yaml(PROM_CONFIG)
    resolved = [(PROM_CONFIG.parent / f).resolve() for f in config.get("rule_files") or []]
    if RULES.resolve() not in resolved:
        problem(f"{PROM_CONFIG}: rule_files {config.get('rule_files')} do not load {RULES}")
    jobs = {j["job_name"]: j for j in config.get("scrape_configs") or []}
    omsd = jobs.get("omsd")
    if not omsd:
        problem(f"{PROM_CONFIG}: no scrape job 'omsd'")
    elif omsd.get("metrics_path", "/metrics") != "/metrics":
        problem(f"{PROM_CONFIG}: job omsd scrapes {omsd.get('metrics_path')}, omsd serves /metrics")
    alerts = {}
    for _, _, rule in rule_exprs():
        name = rule.get("alert")
        if not name:
            continue
        if name in alerts:
            problem(f"{RULES}: alert {name} defined twice")
        alerts[name] = rule
        if not rule.get("for"):
            problem(f"{RULES}: alert {name} has no 'for'")
        if (rule.get("labels") or {}).get("severity") not in ("critical", "warning", "info"):
            problem(f"{RULES}: alert {name} needs severity critical, warning or info")
        ann = rule.get("annotations") or {}
        for key in ("summary", "description"):
            if len(str(ann.get(key, "")).strip()) < 20:
                problem(f"{RULES}: alert {name} needs a useful '{key}' annotation")
    if not alerts:
        problem(f"{RULES}: no alerts")
    # Every alert is proven to fire somewhere and to stay silent somewhere.
    fires, silent = set(), set()
    tests = load_yaml(RULES_TEST)
    if RULES.resolve() not in [(RULES_TEST.parent / f).resolve() for f in tests.get("rule_files", [])]:
        problem(f"{RULES_TEST}: rule_files do not load {RULES}")
    for test in tests.get("tests") or []:
        for case in test.get("alert_rule_test") or []:
            (fires if case.get("exp_alerts") else silent).add(case.get("alertname"))
    for name in alerts:
        if name not in fires:
            problem(f"{RULES_TEST}: no test in which alert {name} fires")
        if name not in silent:
            problem(f"{RULES_TEST}: no test in which alert {name} stays silent")
    for name in (fires | silent) - set(alerts):
        problem(f"{RULES_TEST}: tests an alert that does not exist: {name}")


def cmd_metrics_rules():
    metrics = telemetry()
    found = check_names(RULES, RULES.read_text(), metrics)
    found += check_names(RULES_TEST, RULES_TEST.read_text(), metrics)
    if found == 0:
        problem(f"{RULES}: no omsd metric used at all")
    records = {rule["record"] for _, _, rule in rule_exprs() if "record" in rule}
    for name in records:
        parts = name.split(":")
        if len(parts) != 3 or base_metric(parts[1], metrics) is None:
            problem(f"{RULES}: recording rule {name} is not level:<telemetry.rs metric>:operation")
    for where, expr, _ in rule_exprs():
        for m in RECORDED.finditer(STRING.sub('""', expr)):
            if m.group(1) not in records:
                problem(f"{where}: uses {m.group(1)}, which no recording rule defines")


def cmd_metrics_dashboard():
    metrics = telemetry()
    found = 0
    for path in sorted(DASHBOARDS.glob("*.json")):
        found += check_names(path, path.read_text(), metrics)
    if found == 0:
        problem(f"{DASHBOARDS}: no omsd metric used at all")
    for where, expr, _ in dashboard_exprs():
        if not re.search(r"(?<![\w:])(omsd_[a-z0-9_]+|up)\b", expr):
            problem(f"{where}: uses no omsd metric: {expr}")
        for m in RECORDED.finditer(STRING.sub('""', expr)):
            problem(f"{where}: uses recording rule {m.group(1)}; dashboards query raw metrics")


def cmd_labels():
    metrics = telemetry()
    for where, expr, rule in rule_exprs():
        available = check_expr_labels(where, expr, metrics)
        available |= set((rule.get("labels") or {}).keys())
        for text in (rule.get("annotations") or {}).values():
            for label in re.findall(r"\$labels\.(\w+)", str(text)):
                if label not in available:
                    problem(f"{where}: annotation uses $labels.{label}, not a label of the alert")
    for where, expr, legend in dashboard_exprs():
        check_expr_labels(where, expr, metrics, re.findall(r"\{\{\s*(\w+)\s*\}\}", legend or ""))
    for where, query in template_queries():
        m = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_][\w]*)\s*,\s*(\w+)\s*\)\s*", query)
        if not m:
            continue
        labels = allowed_labels(m.group(1), metrics)
        if labels is None:
            problem(f"{where}: {m.group(1)} is not a metric of src/telemetry.rs")
        elif m.group(2) not in labels:
            problem(f"{where}: {m.group(1)} has no label '{m.group(2)}'")
    for test in load_yaml(RULES_TEST).get("tests") or []:
        for series in test.get("input_series") or []:
            check_expr_labels(f"{RULES_TEST} {test.get('name')!r}", series["series"], metrics)


def substitute_variables(where, expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name in ("__rate_interval", "__interval", "__range"):
            return "5m"
        if name in variables:
            return ".*"
        problem(f"{where}: unknown template variable ${name}")
        return "x"
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def cmd_dashboard_rules(out_path):
    """Writes every dashboard expression as a recording rule, for `promtool check rules`."""
    rules = []
    variables = set()
    for _, dash in dashboards():
        variables |= {v.get("name") for v in (dash.get("templating") or {}).get("list", [])}
    for i, (where, expr, _) in enumerate(dashboard_exprs()):
        rules.append({"record": f"dashboard:expr_{i}:check",
                      "expr": substitute_variables(where, expr, variables)})
    for i, (where, query) in enumerate(template_queries()):
        m = re.fullmatch(r"\s*label_values\(\s*(.+?)\s*,\s*\w+\s*\)\s*", query)
        if not m:
            problem(f"{where}: expected label_values(metric, label), got {query!r}")
            continue
        rules.append({"record": f"dashboard:variable_{i}:check", "expr": m.group(1)})
    if not rules:
        problem("no dashboard expressions found")
    with open(out_path, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-expressions", "rules": rules}]}, f)
    print(f"{len(rules)} dashboard expressions written")


def cmd_grafana():
    uids = set()
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for ds in load_yaml(path).get("datasources") or []:
            for key in ("name", "type", "uid", "url"):
                if not ds.get(key):
                    problem(f"{path}: datasource without '{key}'")
            uids.add(ds.get("uid"))
    if not uids:
        problem(f"{DATASOURCES}: no datasource provisioned")
    providers = []
    for path in sorted(PROVIDERS.glob("*.y*ml")):
        for p in load_yaml(path).get("providers") or []:
            if p.get("type") != "file" or not (p.get("options") or {}).get("path"):
                problem(f"{path}: provider {p.get('name')} must be type file with options.path")
            providers.append(p)
    if not providers:
        problem(f"{PROVIDERS}: no dashboard provider")
    dash_uids = set()
    for path, dash in dashboards():
        for key in ("uid", "title", "panels", "schemaVersion"):
            if not dash.get(key):
                problem(f"{path}: missing '{key}'")
        if dash.get("uid") in dash_uids:
            problem(f"{path}: dashboard uid {dash.get('uid')} used twice")
        dash_uids.add(dash.get("uid"))
        if not 36 <= int(dash.get("schemaVersion") or 0) <= 41:
            problem(f"{path}: schemaVersion {dash.get('schemaVersion')} (expected about 39)")
        variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
        for name, var in variables.items():
            if var.get("type") == "query":
                uid = (var.get("datasource") or {}).get("uid")
                if uid not in uids:
                    problem(f"{path}: variable {name} uses datasource uid {uid!r}, provisioned: {sorted(uids)}")
        venue = variables.get("venue")
        query = (venue or {}).get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if not venue or query != "label_values(omsd_orders_submitted_total, venue)":
            problem(f"{path}: needs a 'venue' variable from label_values(omsd_orders_submitted_total, venue)")
        ids, boxes = set(), []
        for p in iter_panels(dash.get("panels")):
            where = f"{path} panel {p.get('id')} {p.get('title')!r}"
            if p.get("id") in ids:
                problem(f"{where}: duplicate panel id")
            ids.add(p.get("id"))
            g = p.get("gridPos") or {}
            if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
                problem(f"{where}: bad gridPos {g}")
            else:
                for other_where, o in boxes:
                    if (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"]
                            and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]):
                        problem(f"{where}: overlaps {other_where}")
                boxes.append((where, g))
            if p.get("type") == "row":
                continue
            if p.get("type") not in ("timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"):
                problem(f"{where}: unexpected panel type {p.get('type')}")
            if not p.get("title"):
                problem(f"{where}: panel without title")
            if p.get("type") == "text":
                continue
            if (p.get("datasource") or {}).get("uid") not in uids:
                problem(f"{where}: datasource uid {(p.get('datasource') or {}).get('uid')!r} not provisioned")
            if not p.get("targets"):
                problem(f"{where}: no targets")
            for t in p.get("targets") or []:
                if (t.get("datasource") or {}).get("uid", (p.get("datasource") or {}).get("uid")) not in uids:
                    problem(f"{where}: target {t.get('refId')} datasource not provisioned")
                if not str(t.get("expr", "")).strip():
                    problem(f"{where}: target {t.get('refId')} without expr")


# ---------------------------------------------------------------- docker-compose.yml
VAR = re.compile(r"\$\{(\w+)(?:(:?-)([^}]*))?\}|\$(\w+)")


def expand(where, value):
    """Compose interpolation: ${VAR:-default} from the environment or its default."""
    if not isinstance(value, str):
        return value

    def repl(m):
        name = m.group(1) or m.group(4)
        if name in os.environ:
            return os.environ[name]
        if m.group(2):
            return m.group(3)
        problem(f"{COMPOSE} {where}: ${name} has no default")
        return ""
    return VAR.sub(repl, value.replace("$$", "\0")).replace("\0", "$")


def as_list(command):
    return command.split() if isinstance(command, str) else list(command or [])


def env_of(svc, name):
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: expand(f"{name} environment {k}", v) for k, v in env.items()}


def hostport(value):
    host, _, port = value.rpartition(":")
    return host, int(port)


def cmd_compose():
    c = load_yaml(COMPOSE)
    base = COMPOSE.parent
    services = c.get("services") or {}
    declared_volumes = set((c.get("volumes") or {}).keys())
    for name in ("timescaledb", "sim", "omsd", "prometheus", "grafana"):
        if name not in services:
            problem(f"{COMPOSE}: no service '{name}'")
    binds, published, host_ports = {}, {}, {}
    for name, svc in services.items():
        binds[name] = {}
        for vol in svc.get("volumes") or []:
            if isinstance(vol, dict):
                kind, src, dst = vol.get("type"), vol.get("source"), vol.get("target")
            else:
                parts = vol.split(":")
                src, dst = (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])
                kind = "bind" if src and src[0] in "./~" else "volume"
            if kind == "bind":
                if not (base / src).exists():
                    problem(f"{COMPOSE} {name}: bind-mounted host path {src} does not exist")
                if dst in binds[name]:
                    problem(f"{COMPOSE} {name}: {dst} mounted twice")
                binds[name][dst] = (base / src).resolve()
            elif src and src not in declared_volumes:
                problem(f"{COMPOSE} {name}: volume {src} is not declared under top-level volumes")
        published[name] = set()
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                ip, host, container = port.get("host_ip"), port.get("published"), port.get("target")
            else:
                parts = expand(f"{name} ports", str(port)).split(":")
                if len(parts) != 3:
                    problem(f"{COMPOSE} {name}: port {port} must be 127.0.0.1:HOST:CONTAINER")
                    continue
                ip, host, container = parts
            if ip not in ("127.0.0.1", "::1", "[::1]"):
                problem(f"{COMPOSE} {name}: port {port} is not bound to 127.0.0.1")
            if str(host) in host_ports:
                problem(f"{COMPOSE} {name}: host port {host} also published by {host_ports[str(host)]}")
            host_ports[str(host)] = name
            published[name].add(int(str(container).split("/")[0]))
        hc = svc.get("healthcheck")
        if hc and not (isinstance(hc.get("test"), str) or
                       (hc.get("test") or [None])[0] in ("CMD", "CMD-SHELL", "NONE")):
            problem(f"{COMPOSE} {name}: healthcheck test must start with CMD or CMD-SHELL")
        deps = svc.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for dep, spec in deps.items():
            cond = (spec or {}).get("condition", "service_started")
            if dep not in services or dep == name:
                problem(f"{COMPOSE} {name}: depends_on unknown service {dep}")
            elif cond == "service_healthy" and not services[dep].get("healthcheck"):
                problem(f"{COMPOSE} {name}: waits for {dep} healthy, but {dep} has no healthcheck")
            elif cond not in ("service_started", "service_healthy", "service_completed_successfully"):
                problem(f"{COMPOSE} {name}: unknown depends_on condition {cond}")
        if "build" in svc:
            build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
            ctx = base / build.get("context", ".")
            if not (ctx / build.get("dockerfile", "Dockerfile")).is_file():
                problem(f"{COMPOSE} {name}: no {build.get('dockerfile', 'Dockerfile')} in {ctx}")
    # depends_on must be acyclic
    def visit(name, stack):
        if name in stack:
            problem(f"{COMPOSE}: depends_on cycle {' -> '.join(stack + [name])}")
            return
        deps = services.get(name, {}).get("depends_on") or []
        for dep in deps:
            visit(dep, stack + [name])
    for name in services:
        visit(name, [])
    if problems:
        return

    db, sim, omsd, prom, graf = (services[n] for n in ("timescaledb", "sim", "omsd", "prometheus", "grafana"))
    # timescaledb
    if not re.fullmatch(r"timescale/timescaledb:(latest|2[\w.]*)-pg1[5-7]", str(db.get("image"))):
        problem(f"{COMPOSE} timescaledb: image {db.get('image')} is not timescale/timescaledb:*-pg15")
    db_env = env_of(db, "timescaledb")
    if not db_env.get("POSTGRES_PASSWORD"):
        problem(f"{COMPOSE} timescaledb: POSTGRES_PASSWORD is not set")
    if "pg_isready" not in json.dumps((db.get("healthcheck") or {}).get("test")):
        problem(f"{COMPOSE} timescaledb: healthcheck must use pg_isready")
    if not any(str(v).endswith(":/var/lib/postgresql/data") for v in db.get("volumes") or []):
        problem(f"{COMPOSE} timescaledb: /var/lib/postgresql/data is not on a volume")
    # sim and omsd: one image
    if sim.get("image") != omsd.get("image") or "build" not in sim or "build" not in omsd:
        problem(f"{COMPOSE}: sim and omsd must be built from the Dockerfile into the same image")
    sim_cmd = as_list(sim.get("command"))
    sim_port = None
    if sim_cmd[:1] != ["omsd-sim"] or "--listen" not in sim_cmd:
        problem(f"{COMPOSE} sim: command must be omsd-sim --listen ADDR")
    else:
        sim_host, sim_port = hostport(sim_cmd[sim_cmd.index("--listen") + 1])
        if sim_host != "0.0.0.0":
            problem(f"{COMPOSE} sim: must listen on 0.0.0.0 to be reachable from omsd")
    omsd_cmd = as_list(omsd.get("command"))
    if omsd_cmd[:2] != ["omsd", "run"] or "--config" not in omsd_cmd:
        problem(f"{COMPOSE} omsd: command must be omsd run --config FILE")
        return
    config_path = omsd_cmd[omsd_cmd.index("--config") + 1]
    if binds["omsd"].get(config_path) != COMPOSE_TOML.resolve():
        problem(f"{COMPOSE} omsd: {config_path} is not bind-mounted from {COMPOSE_TOML}")
    deps = omsd.get("depends_on") or {}
    if (deps.get("timescaledb") or {}).get("condition") != "service_healthy" or "sim" not in deps:
        problem(f"{COMPOSE} omsd: must depend on timescaledb (healthy) and sim")
    env = env_of(omsd, "omsd")
    for key in ("OMSD_STORE_URL", "OMSD_CONTROL_LISTEN", "OMSD_METRICS_LISTEN", "OMSD_LOG_FORMAT"):
        if not env.get(key):
            problem(f"{COMPOSE} omsd: {key} is not set")
    if problems:
        return
    url = urllib.parse.urlsplit(env["OMSD_STORE_URL"])
    if url.scheme not in ("postgres", "postgresql") or url.hostname != "timescaledb":
        problem(f"{COMPOSE} omsd: OMSD_STORE_URL must be postgres://...@timescaledb/...")
    if (url.port or 5432) != 5432:
        problem(f"{COMPOSE} omsd: OMSD_STORE_URL port {url.port} is not PostgreSQL's 5432")
    if url.username != db_env.get("POSTGRES_USER", "postgres"):
        problem(f"{COMPOSE} omsd: OMSD_STORE_URL user {url.username} != POSTGRES_USER")
    if urllib.parse.unquote(url.password or "") != db_env.get("POSTGRES_PASSWORD"):
        problem(f"{COMPOSE} omsd: OMSD_STORE_URL password != POSTGRES_PASSWORD")
    if url.path.lstrip("/") != db_env.get("POSTGRES_DB", db_env.get("POSTGRES_USER", "postgres")):
        problem(f"{COMPOSE} omsd: OMSD_STORE_URL database {url.path} != POSTGRES_DB")
    if env["OMSD_LOG_FORMAT"] not in ("human", "json"):
        problem(f"{COMPOSE} omsd: OMSD_LOG_FORMAT must be human or json")
    ports = {}
    for key in ("OMSD_CONTROL_LISTEN", "OMSD_METRICS_LISTEN"):
        host, port = hostport(env[key])
        ports[key] = port
        if host != "0.0.0.0":
            problem(f"{COMPOSE} omsd: {key} must listen on 0.0.0.0 inside the container")
        if port not in published["omsd"]:
            problem(f"{COMPOSE} omsd: {key} port {port} is not published")
    if sim_port is not None and sim_port not in published["sim"]:
        problem(f"{COMPOSE} sim: listen port {sim_port} is not published")
    toml = tomllib.loads(COMPOSE_TOML.read_text())
    venues = {v["name"].upper().replace("-", "_"): v for v in toml.get("venues", [])}
    overrides = {}
    for key, value in env.items():
        m = re.fullmatch(r"OMSD_VENUE_(\w+?)_(REST_URL|STREAM_URL|WS_API_URL)", key)
        if m:
            if m.group(1) not in venues:
                problem(f"{COMPOSE} omsd: {key} names no venue of {COMPOSE_TOML}")
            overrides[(m.group(1), m.group(2).lower())] = value
    for vname, venue in venues.items():
        if venue.get("embedded_sim"):
            problem(f"{COMPOSE_TOML}: venue {venue['name']} must not use embedded_sim in compose")
        for field, schemes in (("rest_url", ("http",)), ("stream_url", ("ws",)), ("ws_api_url", ("ws",))):
            for source, value in ((COMPOSE_TOML, venue.get(field)), (COMPOSE, overrides.get((vname, field)))):
                if value is None:
                    continue
                u = urllib.parse.urlsplit(value)
                if u.scheme not in schemes or u.hostname != "sim" or u.port != sim_port:
                    problem(f"{source}: {venue['name']} {field} {value} is not the sim service "
                            f"({schemes[0]}://sim:{sim_port})")
    _, toml_metrics_port = hostport(toml.get("metrics", {}).get("listen", "127.0.0.1:9898"))
    # prometheus
    prom_cmd = as_list(prom.get("command"))
    prom_config = next((a.split("=", 1)[1] for a in prom_cmd if a.startswith("--config.file=")),
                       "/etc/prometheus/prometheus.yml")
    if binds["prometheus"].get(prom_config) != PROM_CONFIG.resolve():
        problem(f"{COMPOSE} prometheus: {prom_config} is not bind-mounted from {PROM_CONFIG}")
    pconfig = load_yaml(PROM_CONFIG)
    for rule_file in pconfig.get("rule_files") or []:
        in_container = os.path.normpath(os.path.join(os.path.dirname(prom_config), rule_file))
        local = (PROM_CONFIG.parent / rule_file).resolve()
        if binds["prometheus"].get(in_container) != local:
            problem(f"{COMPOSE} prometheus: rule file {in_container} is not bind-mounted from "
                    f"{os.path.relpath(local)}")
    for job in pconfig.get("scrape_configs") or []:
        for sc in job.get("static_configs") or []:
            for target in sc.get("targets") or []:
                host, port = hostport(target)
                if host == "localhost" and job["job_name"] == "prometheus":
                    continue
                if host not in services:
                    problem(f"{PROM_CONFIG}: target {target} is not a compose service")
                elif host == "omsd" and port != ports["OMSD_METRICS_LISTEN"]:
                    problem(f"{PROM_CONFIG}: omsd target port {port} != OMSD_METRICS_LISTEN")
    if toml_metrics_port != ports["OMSD_METRICS_LISTEN"]:
        problem(f"{COMPOSE_TOML}: metrics port {toml_metrics_port} != OMSD_METRICS_LISTEN in {COMPOSE}")
    # grafana
    genv = env_of(graf, "grafana")
    raw_env = graf.get("environment") or {}
    if str(genv.get("GF_AUTH_ANONYMOUS_ENABLED", "")).lower() != "false":
        problem(f"{COMPOSE} grafana: GF_AUTH_ANONYMOUS_ENABLED must be \"false\"")
    if not re.fullmatch(r"\$\{\w+:-[^}]+\}", str(raw_env.get("GF_SECURITY_ADMIN_PASSWORD", ""))):
        problem(f"{COMPOSE} grafana: GF_SECURITY_ADMIN_PASSWORD must be ${{VAR:-default}}")
    provisioning = genv.get("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning")
    if binds["grafana"].get(provisioning) != Path("grafana/provisioning").resolve():
        problem(f"{COMPOSE} grafana: {provisioning} is not bind-mounted from grafana/provisioning")
    for path in sorted(PROVIDERS.glob("*.y*ml")):
        for p in load_yaml(path).get("providers") or []:
            target = (p.get("options") or {}).get("path")
            if binds["grafana"].get(target) != DASHBOARDS.resolve():
                problem(f"{path}: provider path {target} is not bind-mounted from {DASHBOARDS}")
    prom_listen = next((a.split("=", 1)[1] for a in prom_cmd if a.startswith("--web.listen-address=")),
                       "0.0.0.0:9090")
    for path in sorted(DATASOURCES.glob("*.y*ml")):
        for ds in load_yaml(path).get("datasources") or []:
            if ds.get("type") == "prometheus":
                u = urllib.parse.urlsplit(ds.get("url", ""))
                if u.hostname != "prometheus" or u.port != hostport(prom_listen)[1]:
                    problem(f"{path}: datasource url {ds.get('url')} is not the prometheus service")
    home = genv.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        mounted = next((src / os.path.relpath(home, dst) for dst, src in binds["grafana"].items()
                        if home.startswith(dst.rstrip("/") + "/")), None)
        if mounted is None or not mounted.is_file():
            problem(f"{COMPOSE} grafana: home dashboard {home} is not a mounted file")


def cmd_dockerfile():
    text = Path("Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
    froms = [l for l in lines if l.upper().startswith("FROM ")]
    if len(froms) < 2 or not re.match(r"FROM rust:1[\w.-]*-bookworm AS builder", froms[0], re.I):
        problem("Dockerfile: first stage must be FROM rust:1-bookworm AS builder")
    if not froms or not froms[-1].startswith("FROM debian:bookworm-slim"):
        problem("Dockerfile: runtime stage must be FROM debian:bookworm-slim")
    build = next((l for l in lines if "cargo build" in l), "")
    if "--release" not in build or "--locked" not in build:
        problem("Dockerfile: cargo build must use --release --locked")
    # Which package defines each binary: --bin only searches the selected packages.
    root = tomllib.loads(Path("Cargo.toml").read_text())
    bins = {}
    for member in root["workspace"]["members"]:
        manifest = tomllib.loads((Path(member) / "Cargo.toml").read_text())
        pkg = manifest["package"]["name"]
        for b in manifest.get("bin", []):
            bins[b["name"]] = pkg
        if (Path(member) / "src/main.rs").exists():
            bins.setdefault(pkg, pkg)
    for binary in ("omsd", "omsd-sim"):
        pkg = bins.get(binary)
        if f"--bin {binary}" not in build:
            problem(f"Dockerfile: cargo build does not build --bin {binary}")
        elif pkg is None:
            problem(f"Dockerfile: no workspace package defines binary {binary}")
        elif pkg != root["package"]["name"] and f"-p {pkg}" not in build and "--workspace" not in build:
            problem(f"Dockerfile: --bin {binary} needs -p {pkg} (cargo only searches selected packages)")
    final = lines[lines.index(froms[-1]):] if froms else []
    users = [l.split(None, 1)[1] for l in final if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problem("Dockerfile: the runtime stage must run as a non-root USER")
    if not any("ca-certificates" in l for l in final):
        problem("Dockerfile: the runtime stage must install ca-certificates")
    copies = " ".join(l for l in final if l.upper().startswith("COPY "))
    for binary in ("omsd", "omsd-sim"):
        if not re.search(rf"/{re.escape(binary)}(\s|$)", copies) or "/usr/local/bin" not in copies:
            problem(f"Dockerfile: {binary} is not copied to /usr/local/bin")
    if not re.search(r"COPY config/? /etc/omsd/?", copies):
        problem("Dockerfile: config/ is not copied to /etc/omsd")
    ignored = {l.strip().strip("/") for l in Path(".dockerignore").read_text().splitlines()}
    for entry in ("target", "var", ".venv"):
        if entry not in ignored:
            problem(f".dockerignore: {entry} is not ignored")
    compose = load_yaml(COMPOSE)
    for name, svc in (compose.get("services") or {}).items():
        if "build" in svc:
            command = as_list(svc.get("command"))
            if command and command[0] not in ("omsd", "omsd-sim"):
                problem(f"{COMPOSE} {name}: runs {command[0]}, which the Dockerfile does not build")


COMMANDS = {
    "rules-lint": cmd_rules_lint,
    "metrics-rules": cmd_metrics_rules,
    "metrics-dashboard": cmd_metrics_dashboard,
    "labels": cmd_labels,
    "dashboard-rules": cmd_dashboard_rules,
    "grafana": cmd_grafana,
    "compose": cmd_compose,
    "dockerfile": cmd_dockerfile,
}

try:
    COMMANDS[sys.argv[1]](*sys.argv[2:])
except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError, tomllib.TOMLDecodeError) as e:
    problem(f"{type(e).__name__}: {e}")
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

helper() {
    python3 -c "$HELPER" "$@"
}

dashboard_promql_parses() {
    helper dashboard-rules "$work_dir/dashboard-expressions.yml" &&
        promtool check rules "$work_dir/dashboard-expressions.yml"
}

check "promtool check config config/prometheus.yml" promtool check config config/prometheus.yml
check "promtool check rules config/prometheus-rules.yml" promtool check rules config/prometheus-rules.yml
check "promtool test rules config/prometheus-rules.test.yml" \
    promtool test rules config/prometheus-rules.test.yml
check "alerts have for, severity, summary, description; each fires and stays silent in a test" \
    helper rules-lint
check "metric names in rules and rule tests are declared in src/telemetry.rs" helper metrics-rules
check "metric names in dashboards are declared in src/telemetry.rs" helper metrics-dashboard
check "label names in rules, rule tests and dashboards are attached in src/telemetry.rs" \
    helper labels
check "every dashboard PromQL expression parses (promtool)" dashboard_promql_parses
check "grafana provisioning and dashboards are consistent" helper grafana
check "docker-compose.yml: services, mounts, ports, depends_on, wiring" helper compose
check "Dockerfile and .dockerignore" helper dockerfile

echo "ops-checks: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
