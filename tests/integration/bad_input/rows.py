"""The bad-input catalogue as data: every row of docs/bad-input.md, what it gives and what the
message must name.

A row is run in one batch with the others of its family (see conftest.py): ``module`` rows are
tasks of one play, ``role`` rows are block/rescue around include_role in one play, ``playbook``
rows are runs of the release playbooks (a few, side by side). ``expect`` lists the texts the
failure message must hold: the option or variable the user set, as they wrote it. Values in
braces are filled in by the fixture: {ns} the release's namespace, {kubeconfig} the kubeconfig of
the batch's own ServiceAccount, {prometheus} the test bed's Prometheus, {dead} a port nobody
listens on, {token_prometheus} a fake Prometheus that demands TOKEN, {nons} a namespace that does
not exist, {nofile} a kubeconfig path that does not exist.

``pending`` says why a row does not hold yet and which file must change (a file outside this
catalogue's reach); its test fails as soon as the row holds, so the mark is taken off then.
"""

import collections

TOKEN = "the-right-token"

Row = collections.namedtuple("Row", "id family where given expect task pending")


def row(id, family, where, given, expect, task, pending=None):
    return Row(id, family, where, given, list(expect), task, pending)


_LONG = "a" * 64
_TWO_SERIES = 'label_replace(vector(1), "copy", "a", "", "") or label_replace(vector(2), "copy", "b", "", "")'
_EDGE_PROM = ("_edges/prometheus_client.py / _runner/prometheus_args.py: the URL check and the connection errors "
              "should name the option (url), as a ParameterError or with param='url'")


def _ts(**args):
    base = {"name": "podinfo", "namespace": "{ns}",
            "destinations": [{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}]}
    base.update(args)
    return {"rollouts.istio.traffic_split": base}


def _check(**args):
    base = {"url": "{prometheus}", "namespace": "{ns}", "workload": "podinfo-v2", "interval": "10s",
            "metrics": [{"name": "request-success-rate", "min": 99}], "retries": 0}
    base.update(args)
    return {"rollouts.istio.prometheus_check": base}


def _probe(**args):
    base = {"url": "http://127.0.0.1:{dead}", "version_header": "x-version", "expected_weights": {"v1": 90, "v2": 10}}
    base.update(args)
    return {"rollouts.istio.traffic_probe": base}


MODULE_ROWS = [
    row("traffic-split-weights-add-up-to-110", "module", "traffic_split `destinations`", "weights 50 + 60",
        ["destinations"], _ts(destinations=[{"subset": "v1", "weight": 50}, {"subset": "v2", "weight": 60}])),
    row("traffic-split-weight-out-of-range", "module", "traffic_split `destinations[0].weight`", "weights -10 and 110",
        ["destinations[0].weight"],
        _ts(destinations=[{"subset": "v1", "weight": -10}, {"subset": "v2", "weight": 110}])),
    row("traffic-split-weight-float", "module", "traffic_split `destinations[].weight`", "weight 50.5",
        ["weight", "destinations"],
        _ts(destinations=[{"subset": "v1", "weight": 50.5}, {"subset": "v2", "weight": 49.5}])),
    row("traffic-split-weight-string", "module", "traffic_split `destinations[].weight`", "weight `half`",
        ["weight", "destinations"],
        _ts(destinations=[{"subset": "v1", "weight": "half"}, {"subset": "v2", "weight": 50}])),
    row("traffic-split-unknown-subset", "module", "traffic_split `destinations[1].subset`",
        "subset v9, which the DestinationRule does not have", ["destinations", "v9"],
        _ts(destinations=[{"subset": "v1", "weight": 90}, {"subset": "v9", "weight": 10}])),
    row("traffic-split-unknown-host", "module", "traffic_split `destinations[0].host`",
        "a host no route of the VirtualService sends to", ["destinations[0].host"],
        _ts(destinations=[{"host": "elsewhere", "subset": "v1", "weight": 90},
                          {"host": "elsewhere", "subset": "v2", "weight": 10}])),
    row("traffic-split-missing-namespace", "module", "traffic_split `namespace`", "a namespace that does not exist",
        ["namespace"], _ts(namespace="{nons}")),
    row("traffic-split-missing-virtual-service", "module", "traffic_split `name`",
        "a VirtualService that does not exist",
        ["name"], _ts(name="nosuch")),
    row("traffic-split-missing-destination-rule", "module", "traffic_split `destinations`",
        "a VirtualService whose host has no DestinationRule", ["destinations"],
        _ts(name="lonely", destinations=[{"subset": "v1", "weight": 90}, {"subset": "v2", "weight": 10}])),
    row("traffic-split-name-uppercase", "module", "traffic_split `name`", "name `PodInfo`", ["name"],
        _ts(name="PodInfo")),
    row("traffic-split-namespace-too-long", "module", "traffic_split `namespace`", "a namespace of 64 characters",
        ["namespace"], _ts(namespace=_LONG)),
    row("traffic-split-unknown-route", "module", "traffic_split `route`", "a route the VirtualService does not have",
        ["route"], _ts(route="nosuch")),
    row("traffic-split-kubeconfig-missing", "module", "traffic_split `kubeconfig`", "a kubeconfig that does not exist",
        ["kubeconfig"], _ts(kubeconfig="{nofile}")),
    row("traffic-split-context-unknown", "module", "traffic_split `context`", "a context the kubeconfig does not have",
        ["context"], _ts(context="nosuch")),
    row("traffic-split-unknown-conflict-policy", "module", "traffic_split `on_concurrent_weight_change`",
        "`sometimes`", ["on_concurrent_weight_change"], _ts(on_concurrent_weight_change="sometimes")),
    row("virtual-service-weights-add-up-to-110", "module", "virtual_service `http[0]`", "weights 50 + 60",
        ["http[0]"], {"rollouts.istio.virtual_service": {
            "name": "podinfo-copy", "namespace": "{ns}", "hosts": ["podinfo"],
            "http": [{"name": "primary", "destinations": [{"host": "podinfo", "subset": "v1", "weight": 50},
                                                          {"host": "podinfo", "subset": "v2", "weight": 60}]}]}}),
    row("destination-rule-empty-name", "module", "destination_rule `name`", "an empty name", ["name"],
        {"rollouts.istio.destination_rule": {
            "name": "", "namespace": "{ns}", "service": "podinfo", "subsets": [{"name": "v1", "version": "v1"}]}}),
    row("gateway-port-not-a-number", "module", "gateway `servers[].port.number`", "port `eighty`", ["number"],
        {"rollouts.istio.gateway": {
            "name": "gw", "namespace": "{ns}",
            "servers": [{"hosts": ["x.example.com"], "port": {"number": "eighty"}}]}}),
    row("rollout-unknown-action", "module", "rollout `action`", "action `leap`", ["action"],
        {"rollouts.istio.rollout": {
            "name": "podinfo", "namespace": "{ns}", "virtual_services": [{"name": "podinfo"}],
            "service": "podinfo", "stable": "v1", "candidate": "v2", "action": "leap", "run_id": "bad-input"}}),
    row("rollout-weight-above-100", "module", "rollout `weight`", "weight 150", ["weight"],
        {"rollouts.istio.rollout": {
            "name": "podinfo", "namespace": "{ns}", "virtual_services": [{"name": "podinfo"}],
            "service": "podinfo", "stable": "v1", "candidate": "v2", "action": "step",
            "weight": 150, "step": 1, "run_id": "bad-input"}}),
    row("rollout-info-name-uppercase", "module", "rollout_info `name`", "name `PodInfo`", ["name"],
        {"rollouts.istio.rollout_info": {"name": "PodInfo", "namespace": "{ns}"}}),
    row("virtual-service-info-namespace-uppercase", "module", "virtual_service_info `namespace`", "namespace `Demo`",
        ["namespace"], {"rollouts.istio.virtual_service_info": {"namespace": "Demo"}}),
    row("prometheus-query-invalid-promql", "module", "prometheus_query `query`", "`sum(rate(`", ["query"],
        {"rollouts.istio.prometheus_query": {"url": "{prometheus}", "query": "sum(rate("}}),
    row("prometheus-query-url-without-scheme", "module", "prometheus_query `url`", "`prometheus:9090`", ["url"],
        {"rollouts.istio.prometheus_query": {"url": "prometheus:9090", "query": "up"}}),
    row("prometheus-query-unreachable", "module", "prometheus_query `url`", "a port nobody listens on", ["url"],
        {"rollouts.istio.prometheus_query": {"url": "http://127.0.0.1:{dead}", "query": "up", "retries": 0}},
        pending=_EDGE_PROM),
    row("prometheus-query-wrong-token", "module", "prometheus_query `token`", "a bearer token Prometheus refuses",
        ["token"], {"rollouts.istio.prometheus_query": {
            "url": "{token_prometheus}", "query": "up", "token": "the-wrong-token", "retries": 0}}),
    row("prometheus-check-several-series", "module", "prometheus_check `metrics[0]`",
        "a query that returns two series", ["metrics[0]"],
        _check(metrics=[{"name": "two-series", "query": _TWO_SERIES, "min": 0}])),
    row("prometheus-check-unknown-metric", "module", "prometheus_check `metrics[0].query`",
        "metric `request-happiness` without a query", ["metrics[0].query"],
        _check(metrics=[{"name": "request-happiness", "min": 99}])),
    row("prometheus-check-min-above-max", "module", "prometheus_check `metrics[0].min`", "min 99, max 90",
        ["metrics[0].min"], _check(metrics=[{"name": "request-success-rate", "min": 99, "max": 90}])),
    row("prometheus-check-no-min-no-max", "module", "prometheus_check `metrics[0]`", "neither min nor max",
        ["metrics[0]"], _check(metrics=[{"name": "request-success-rate"}])),
    row("prometheus-check-interval-not-a-duration", "module", "prometheus_check `interval`", "`soon`", ["interval"],
        _check(interval="soon")),
    row("prometheus-check-iterations-zero", "module", "prometheus_check `iterations`", "0", ["iterations"],
        _check(iterations=0)),
    row("prometheus-check-unknown-no-data-policy", "module", "prometheus_check `no_data`", "`pass`", ["no_data"],
        _check(no_data="pass")),
    row("traffic-probe-weights-add-up-to-110", "module", "traffic_probe `expected_weights`", "{v1: 50, v2: 60}",
        ["expected_weights"], _probe(expected_weights={"v1": 50, "v2": 60})),
    row("traffic-probe-confidence-above-1", "module", "traffic_probe `confidence`", "1.5", ["confidence"],
        _probe(confidence=1.5)),
    row("traffic-probe-url-without-scheme", "module", "traffic_probe `url`", "`127.0.0.1:8080`", ["url"],
        _probe(url="127.0.0.1:8080")),
]


def _st(**variables):
    return {"role": "rollouts.istio.shift_traffic",
            "vars": dict(("shift_traffic_" + k, v) for k, v in variables.items())}


ROLE_ROWS = [
    row("shift-traffic-steps-not-increasing", "role", "shift_traffic `shift_traffic_steps`", "[10, 50, 40]",
        ["shift_traffic_steps[2]"], _st(steps=[10, 50, 40])),
    row("shift-traffic-step-above-100", "role", "shift_traffic `shift_traffic_steps`", "[10, 150]",
        ["shift_traffic_steps[1]"], _st(steps=[10, 150])),
    row("shift-traffic-steps-empty", "role", "shift_traffic `shift_traffic_steps`", "[]", ["shift_traffic_steps"],
        _st(steps=[])),
    row("shift-traffic-weights-above-100", "role", "shift_traffic `shift_traffic_weights`",
        "strategy weights, [50, 120]", ["shift_traffic_weights[1]"], _st(strategy="weights", weights=[50, 120])),
    row("shift-traffic-weights-string", "role", "shift_traffic `shift_traffic_weights`",
        "strategy weights, [half, 100]",
        ["shift_traffic_weights"], _st(strategy="weights", weights=["half", 100])),
    row("shift-traffic-unknown-strategy", "role", "shift_traffic `shift_traffic_strategy`", "`big_bang`",
        ["shift_traffic_strategy"], _st(strategy="big_bang")),
    row("shift-traffic-interval-not-a-duration", "role", "shift_traffic `shift_traffic_interval`", "`soon`",
        ["shift_traffic_interval"], _st(interval="soon")),
    row("shift-traffic-min-above-max", "role", "shift_traffic `shift_traffic_metrics`", "min 99, max 90",
        ["shift_traffic_metrics[0].min"], _st(metrics=[{"name": "request-success-rate", "min": 99, "max": 90}])),
    row("shift-traffic-no-min-no-max", "role", "shift_traffic `shift_traffic_metrics`", "a metric with neither",
        ["shift_traffic_metrics[0]"], _st(metrics=[{"name": "request-success-rate"}])),
    row("shift-traffic-unknown-metric", "role", "shift_traffic `shift_traffic_metrics`",
        "metric `request-happiness` without a query", ["shift_traffic_metrics[0].query"],
        _st(metrics=[{"name": "request-happiness", "min": 1}])),
    row("shift-traffic-threshold-zero", "role", "shift_traffic `shift_traffic_threshold`", "0",
        ["shift_traffic_threshold"], _st(threshold=0)),
    row("shift-traffic-iterations-zero", "role", "shift_traffic `shift_traffic_iterations`", "0",
        ["shift_traffic_iterations"], _st(iterations=0)),
    row("shift-traffic-max-weight-negative", "role", "shift_traffic `shift_traffic_max_weight`",
        "step_weight 10, max_weight -5", ["shift_traffic_max_weight"], _st(step_weight=10, max_weight=-5)),
    row("shift-traffic-step-weight-with-steps", "role", "shift_traffic `shift_traffic_step_weight`",
        "step_weight 10 and steps [20, 40]", ["shift_traffic_step_weight", "shift_traffic_steps"],
        _st(step_weight=10, steps=[20, 40])),
    row("shift-traffic-unknown-on-failure", "role", "shift_traffic `shift_traffic_on_failure`", "`retry`",
        ["shift_traffic_on_failure"], _st(on_failure="retry")),
    row("shift-traffic-header-match-without-header", "role", "shift_traffic `shift_traffic_match`",
        "strategy ab_test, [{headers: {}}]", ["shift_traffic_match[0].headers"],
        _st(strategy="ab_test", match=[{"headers": {}}])),
    row("shift-traffic-mirror-150", "role", "shift_traffic `shift_traffic_mirror_percent`",
        "strategy blue_green, 150", ["shift_traffic_mirror_percent"], _st(strategy="blue_green", mirror_percent=150)),
    row("shift-traffic-empty-app", "role", "shift_traffic `shift_traffic_app`", "an empty app name",
        ["shift_traffic_app"], _st(app="")),
    row("shift-traffic-app-uppercase", "role", "shift_traffic `shift_traffic_app`", "`Pod_Info`",
        ["shift_traffic_app"], _st(app="Pod_Info")),
    row("shift-traffic-report-dir-a-file", "role", "shift_traffic `shift_traffic_report_dir`",
        "a file, not a directory", ["shift_traffic_report_dir", "is not a directory"], _st(report_dir="{kubeconfig}")),
    row("shift-traffic-prometheus-timeout-zero", "role", "shift_traffic `shift_traffic_prometheus_timeout`", "0",
        ["shift_traffic_prometheus_timeout"], _st(prometheus_timeout=0)),
    row("shift-traffic-prometheus-retries-negative", "role", "shift_traffic `shift_traffic_prometheus_retries`", "-1",
        ["shift_traffic_prometheus_retries"], _st(prometheus_retries=-1)),
    row("shift-traffic-app-too-long", "role", "shift_traffic `shift_traffic_app`", "a name of 64 characters",
        ["shift_traffic_app"], _st(app=_LONG)),
    row("shift-traffic-prometheus-url-without-scheme", "role", "shift_traffic `shift_traffic_prometheus_url`",
        "`prometheus:9090`", ["shift_traffic_prometheus_url"], _st(prometheus_url="prometheus:9090")),
    row("shift-traffic-prometheus-unreachable", "role", "shift_traffic `shift_traffic_prometheus_url`",
        "a port nobody listens on", ["shift_traffic_prometheus_url"], _st(prometheus_url="http://127.0.0.1:{dead}")),
    row("shift-traffic-prometheus-wrong-token", "role", "shift_traffic `shift_traffic_prometheus_token`",
        "a bearer token Prometheus refuses", ["shift_traffic_prometheus_token"],
        _st(prometheus_url="{token_prometheus}", prometheus_token="the-wrong-token")),
    row("shift-traffic-invalid-promql", "role", "shift_traffic `shift_traffic_metrics`", "query `sum(rate(`",
        ["shift_traffic_metrics[0].query"], _st(metrics=[{"name": "broken", "query": "sum(rate(", "min": 1}])),
    row("shift-traffic-query-several-series", "role", "shift_traffic `shift_traffic_metrics`",
        "a query that returns two series", ["shift_traffic_metrics[0].query"],
        _st(metrics=[{"name": "two-series", "query": _TWO_SERIES, "min": 0}])),
    row("shift-traffic-missing-namespace", "role", "shift_traffic `shift_traffic_namespace`",
        "a namespace that does not exist", ["shift_traffic_namespace"], _st(namespace="{nons}")),
    row("shift-traffic-missing-virtual-service", "role", "shift_traffic `shift_traffic_virtual_services`",
        "a VirtualService that does not exist", ["shift_traffic_virtual_services[0]"],
        _st(virtual_services=[{"name": "nosuch"}])),
    row("shift-traffic-missing-deployment", "role", "shift_traffic `shift_traffic_candidate`",
        "a candidate without a Deployment", ["shift_traffic_candidate"], _st(candidate="v4")),
    row("shift-traffic-missing-destination-rule", "role", "shift_traffic `shift_traffic_app`",
        "an app whose DestinationRule does not exist", ["shift_traffic_app"], _st(app="lonely")),
    row("shift-traffic-unknown-subset", "role", "shift_traffic `shift_traffic_candidate`",
        "a candidate the DestinationRule has no subset for", ["shift_traffic_candidate"], _st(candidate="v3")),
    row("shift-traffic-kubeconfig-missing", "role", "shift_traffic `shift_traffic_kubeconfig`",
        "a kubeconfig that does not exist", ["shift_traffic_kubeconfig"], _st(kubeconfig="{nofile}")),
    row("shift-traffic-context-unknown", "role", "shift_traffic `shift_traffic_context`",
        "a context the kubeconfig does not have", ["shift_traffic_context"], _st(context="nosuch")),
    row("shift-traffic-unknown-approval-mode", "role", "shift_traffic `shift_traffic_approval_mode`", "`email`",
        ["shift_traffic_approval_mode"], _st(approval="before_promotion", approval_mode="email")),
    row("deploy-versions-app-uppercase", "role", "deploy_versions `deploy_versions_app`", "`PodInfo`",
        ["deploy_versions_app"],
        {"role": "rollouts.istio.deploy_versions", "vars": {"deploy_versions_app": "PodInfo"}}),
    row("deploy-versions-candidate-is-stable", "role", "deploy_versions `deploy_versions_candidate`",
        "the stable version again", ["deploy_versions_candidate.version"],
        {"role": "rollouts.istio.deploy_versions", "vars": {"deploy_versions_candidate": {
            "version": "v1", "image": "ghcr.io/stefanprodan/podinfo:6.7.1"}}}),
    row("deploy-versions-empty-image", "role", "deploy_versions `deploy_versions_candidate.image`", "an empty image",
        ["deploy_versions_candidate.image"],
        {"role": "rollouts.istio.deploy_versions",
         "vars": {"deploy_versions_candidate": {"version": "v2", "image": ""}}}),
    row("deploy-versions-config-bad-file-name", "role", "deploy_versions `deploy_versions_candidate.config`",
        "a file name with a slash", ["deploy_versions_candidate.config"],
        {"role": "rollouts.istio.deploy_versions",
         "vars": {"deploy_versions_candidate": {"version": "v2", "image": "ghcr.io/stefanprodan/podinfo:6.7.1",
                                                "config": {"conf/app.yaml": "a: 1"}}}}),
    row("deploy-versions-port-out-of-range", "role", "deploy_versions `deploy_versions_service_port`", "70000",
        ["deploy_versions_service_port"],
        {"role": "rollouts.istio.deploy_versions", "vars": {"deploy_versions_service_port": 70000}}),
    row("install-minikube-version", "role", "install_minikube `install_minikube_version`", "`1.37` (no v)",
        ["install_minikube_version"],
        {"role": "rollouts.istio.install_minikube", "vars": {"install_minikube_version": "1.37"}}),
    row("install-istio-unknown-prometheus-mode", "role", "install_istio `install_istio_prometheus`",
        "external without a URL", ["install_istio_prometheus_url"],
        {"role": "rollouts.istio.install_istio", "vars": {"install_istio_prometheus": "external",
                                                          "install_istio_prometheus_url": ""}}),
]


def _pb(playbook, **extra):
    return {"playbook": playbook, "vars": extra}


PLAYBOOK_ROWS = [
    row("canary-app-uppercase", "playbook", "canary.yml `release_app`", "`PodInfo`", ["release_app"],
        _pb("canary.yml", release_app="PodInfo")),
    row("canary-missing-namespace", "playbook", "canary.yml `release_namespace`", "a namespace that does not exist",
        ["release_namespace"], _pb("canary.yml", release_namespace="{nons}")),
    row("canary-candidate-without-deployment", "playbook", "canary.yml `release_candidate`",
        "a candidate without a Deployment", ["release_candidate"], _pb("canary.yml", release_candidate="v4")),
    row("canary-prometheus-url-without-scheme", "playbook", "canary.yml `release_prometheus_url`",
        "`prometheus:9090`", ["release_prometheus_url"], _pb("canary.yml", release_prometheus_url="prometheus:9090")),
    row("canary-kubeconfig-missing", "playbook", "canary.yml `release_kubeconfig`", "a kubeconfig that does not exist",
        ["release_kubeconfig"], _pb("canary.yml", release_kubeconfig="{nofile}")),
    row("canary-deploy-without-image", "playbook", "canary.yml `release_images`",
        "release_deploy with a candidate that has no image", ["release_images"],
        _pb("canary.yml", release_deploy=True, release_candidate="v7")),
    row("blue-green-context-unknown", "playbook", "blue_green.yml `release_context`",
        "a context the kubeconfig does not have", ["release_context"], _pb("blue_green.yml", release_context="nosuch")),
]

# A row that writes before it fails runs alone: in a namespace and as a ServiceAccount of its own, so its
# writes are told from the batches'.
ALONE_ROWS = [
    row("shift-traffic-approval-without-terminal", "alone", "shift_traffic `shift_traffic_approval_mode`",
        "approval before_promotion with approval_mode pause, and no terminal to answer",
        ["shift_traffic_approval_mode"],
        _st(approval="before_promotion", approval_mode="pause", steps=[50], metrics=[], allow_no_metrics=True)),
]

ROWS = MODULE_ROWS + ROLE_ROWS + PLAYBOOK_ROWS + ALONE_ROWS
