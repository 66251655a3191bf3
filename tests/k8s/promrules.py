"""Turn every PromQL query of ``k8s/`` into plain Prometheus rule files.

``promtool check rules`` (and a real Prometheus server) only read plain rule files, so:

- the PrometheusRule objects of a rendered overlay become ``prometheus-rules.yml``;
- each prometheus-adapter ``metricsQuery`` (a Go template) is rendered with sample
  label matchers, the way the adapter does for one namespace's pods, and becomes a
  recording rule in ``adapter-rules.yml``;
- each Grafana panel query, with its variables substituted, becomes a recording rule
  in ``dashboard-rules.yml``.

Usage: ``python tests/k8s/promrules.py RENDERED.yaml --out-dir DIR``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

K8S = Path(__file__).resolve().parents[2] / "k8s"
ADAPTER_VALUES = K8S / "monitoring" / "prometheus-adapter-values.yaml"
DASHBOARD = K8S / "monitoring" / "dashboards" / "vidsearch.json"

# What the adapter substitutes when an HPA asks for one namespace's pods: the
# orchestrator's for vidsearch_* series, Triton's for Triton's nv_* series.
SAMPLE_NAMESPACE = "vidsearch"
SAMPLE_POD_REGEX = "orchestrator-.*"
SAMPLE_POD_REGEXES = {"vidsearch_": "orchestrator-.*", "nv_": "triton-.*"}
# Grafana variables -> values that make each panel a concrete PromQL query.
DASHBOARD_VARIABLES = {
    "$__rate_interval": "5m",
    "$namespace": SAMPLE_NAMESPACE,
    "$pipeline": "search_.*",
}


def prometheus_rule_groups(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """The rule groups of every PrometheusRule in ``resources``, as one rules file."""
    groups: list[dict[str, Any]] = []
    for resource in resources:
        if resource.get("kind") == "PrometheusRule":
            groups.extend(resource["spec"]["groups"])
    return {"groups": groups}


def adapter_rules(values_path: Path = ADAPTER_VALUES) -> list[dict[str, Any]]:
    """The prometheus-adapter custom rules of the Helm values file."""
    values = yaml.safe_load(values_path.read_text())
    return list(values["rules"]["custom"])


def series_name(series_query: str) -> str:
    """The metric name a ``seriesQuery`` selects (``name{...}`` or ``{__name__=...}``)."""
    match = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{|$)", series_query)
    if not match:
        raise ValueError(f"cannot read a metric name from seriesQuery {series_query!r}")
    return match.group(1)


def sample_pod_regex(series: str) -> str:
    """The pods an HPA on ``series`` scales (by the metric's prefix)."""
    for prefix, regex in SAMPLE_POD_REGEXES.items():
        if series.startswith(prefix):
            return regex
    return SAMPLE_POD_REGEX


def render_adapter_query(rule: dict[str, Any], pod_regex: str | None = None) -> str:
    """``metricsQuery`` with the template fields filled in as the adapter does."""
    series = series_name(rule["seriesQuery"])
    matchers = f'namespace="{SAMPLE_NAMESPACE}",pod=~"{pod_regex or sample_pod_regex(series)}"'
    query: str = (
        rule["metricsQuery"]
        .replace("<<.Series>>", series)
        .replace("<<.LabelMatchers>>", matchers)
        .replace("<<.GroupBy>>", "pod")
    )
    if "<<" in query:
        raise ValueError(f"unsupported adapter template field left in {query!r}")
    return query


def adapter_rule_file(values_path: Path = ADAPTER_VALUES) -> dict[str, Any]:
    """Every adapter metric as a recording rule ``adapter:<metric name>``."""
    rules = [
        {"record": f"adapter:{rule['name']['as']}", "expr": render_adapter_query(rule)}
        for rule in adapter_rules(values_path)
    ]
    return {"groups": [{"name": "prometheus-adapter", "rules": rules}]}


def dashboard_queries(path: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, PromQL with variables substituted) for every panel target."""
    dashboard = json.loads(path.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in DASHBOARD_VARIABLES.items():
                expr = expr.replace(variable, value)
            if "$" in expr:
                raise ValueError(f"panel {panel['title']!r}: unknown variable in {expr!r}")
            queries.append((panel["title"], expr))
    return queries


def dashboard_rule_file(path: Path = DASHBOARD) -> dict[str, Any]:
    """Every dashboard query as a recording rule, so promtool parses it."""
    rules = [
        {"record": f"dashboard:query_{index}", "expr": expr}
        for index, (_, expr) in enumerate(dashboard_queries(path))
    ]
    return {"groups": [{"name": "grafana-dashboard", "rules": rules}]}


def write_rule_files(resources: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write the three rule files into ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "prometheus-rules.yml": prometheus_rule_groups(resources),
        "adapter-rules.yml": adapter_rule_file(),
        "dashboard-rules.yml": dashboard_rule_file(),
    }
    paths = []
    for name, content in files.items():
        path = out_dir / name
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    """CLI: extract the rule files from a rendered overlay."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rendered", type=Path, help="multi-document YAML of an overlay")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    resources = [d for d in yaml.safe_load_all(args.rendered.read_text()) if d]
    for path in write_rule_files(resources, args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
