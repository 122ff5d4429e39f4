"""Kill everywhere (issue 11): a release SIGKILLed at its task boundaries and in the middle of every
long task, then run again; 100 % of the trials must converge, and no stored VirtualService version may
ever have weights that do not sum to 100 or point at a subset that does not exist. How every boundary
is covered (a real kill at the first boundary of each distinct state, and proof that the boundaries
after it leave that same state) is in tests/support/kill_campaign.py.

Three releases, each a scenario of tests/support/kill_campaign.py:
- a healthy 3-step canary (10, 50, 100 %) from an empty namespace, deploy_versions included, that
  must end promoted (Succeeded);
- a rollback in progress: a candidate answering 30 % errors, whose gate fails at its first step, that
  must end rolled back (Failed, 100 % stable) wherever it was killed, the rollback itself included;
- a blue/green release (preview route, then the switch), that must end promoted.
The last two start from both versions laid out, as deploy_versions leaves them: its boundaries are
the canary's.

The mesh simulator stands in for Envoy (it routes the VirtualService's weights and serves the
versions' metrics); the API server, the audit log and Prometheus are the test bed's real ones. The
number of boundaries, trials and converged trials is printed and kept in tests/output/release-timings.json.
"""

import uuid

import pytest

from support.kill_campaign import Scenario, campaign
from support.mesh import set_faults, start_simulator
from support.release import create_release, release_vars

# Trials side by side, each in its own namespace (a fresh release every trial).
WORKERS = 3
# Short waits: a check a second over an 8 s window (Prometheus scrapes every 2 s), up to 3 checks a
# step; hey at 2 x 15 qps gives the candidate about 24 requests a window at 10 %, above the 10 the
# gate asks for.
QPS = 15
KNOBS = {"interval": "1s", "iterations": 1, "threshold": 3,
         "metrics": [{"name": "request-success-rate", "min": 99, "interval": "8s"},
                     {"name": "request-duration", "max": 500, "interval": "8s"}]}


@pytest.fixture
def bed(cluster, k8s, prometheus_url):
    """WORKERS namespaces, one mesh simulator routing them all, scraped by Prometheus."""
    run = uuid.uuid4().hex[:5]
    names = ["kill-%s-%d" % (run, i) for i in range(WORKERS)]
    ns_api = k8s.resources.get(api_version="v1", kind="Namespace")
    for name in names:
        ns_api.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    simulator = start_simulator(cluster, names)
    simulator.wait_scraped(prometheus_url)
    yield names, simulator
    simulator.stop()
    for name in names:
        try:
            ns_api.delete(name=name)
        except Exception:  # already gone
            pass


def deployed_plan(prometheus_url, simulator, **plan):
    def make(namespace):
        values = release_vars(namespace, prometheus_url, simulator, qps=QPS, **dict(KNOBS, **plan))
        values["release_deploy"] = True
        return values
    return make


def laid_out_plan(prometheus_url, simulator, **plan):
    return lambda namespace: release_vars(namespace, prometheus_url, simulator, qps=QPS, **dict(KNOBS, **plan))


def scenario(name, k8s, prometheus_url, simulator):
    if name == "canary":
        return Scenario("canary", "canary.yml", deployed_plan(prometheus_url, simulator, steps=[10, 50, 100]),
                        "Succeeded")
    # The two below start from the versions laid out (deploy_versions' part was the canary's).
    if name == "blue_green":
        return Scenario("blue_green", "blue_green.yml",
                        laid_out_plan(prometheus_url, simulator, strategy="blue_green", iterations=2,
                                      load_headers={"x-rollouts-istio-preview": "v2"}),
                        "Succeeded", setup=lambda namespace: create_release(k8s, namespace))

    def faulty(namespace):
        create_release(k8s, namespace)
        set_faults(k8s, namespace, "podinfo-v2", error_rate=0.3)
        # The simulator must answer with the errors before the run starts: one that has not seen the
        # annotation yet lets the first gate pass, and that run takes another path than the reference.
        simulator.wait_synced(k8s, namespace)

    return Scenario("rollback", "canary.yml", laid_out_plan(prometheus_url, simulator, steps=[10, 50, 100],
                                                            threshold=1), "Failed", setup=faulty)


@pytest.mark.parametrize("name", ["canary", "rollback", "blue_green"])
def test_every_kill_converges(cluster, k8s, prometheus_url, bed, name):
    namespaces, simulator = bed
    report = campaign(cluster, k8s, scenario(name, k8s, prometheus_url, simulator), namespaces, simulator)
    print("\n[kill everywhere] %(scenario)s: %(boundaries)d boundaries in %(distinct_states)d distinct states, "
          "%(boundary_kills)d boundary kills + %(mid_task_kills)d mid-task kills = %(trials)d trials, %(converged)d "
          "converged, %(versions_checked)d VirtualService versions checked, %(campaign_wall_s)ss" % report)
    # Every boundary is in a state some trial killed the run in; a release makes several writes.
    assert report["boundaries_covered"] == report["boundaries"] > 10 and report["distinct_states"] >= 3, report
    assert report["converged"] == report["trials"], "\n".join(
        ["the reference run ended: %s" % (report["reference_end"] or "without a failure")]
        + ["kill at boundary %(at)d (%(task)s) +%(delay)ss in %(namespace)s: " % o + "; ".join(o["problems"])
           for o in report["failed"]])
