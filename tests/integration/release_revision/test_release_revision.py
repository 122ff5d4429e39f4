"""A rollout knows its revision, end to end on the test bed (issue 16).

The shipped canary playbook, run as a user runs it, against the mesh simulator: the promoted
revision again writes nothing and says when it was promoted; a new image during the canary
restarts the analysis from the first step, with both revisions in the record's history; so does a
change of the candidate's own ConfigMap alone, the stable one's untouched; a release of DaemonSets
promotes and its old version is deleted, and a failing DaemonSet candidate is rolled back by its
metrics gate (the mesh simulator serves DaemonSets as it serves Deployments).
"""

import copy
import json

import pytest

from support.mesh import ERROR_RATE_ANNOTATION, TUTORIAL_APP
from support.mesh import apply_objects
from support.release import primary_weights, read_record, release_objects, release_vars, run_playbook, wait_record


def assert_succeeded(release, result):
    assert result.rc == 0, result.summary()
    record = read_record(release.namespace)
    assert record["phase"] == "Succeeded", record
    assert primary_weights(release.namespace) == {"v2": 100}
    return record


def assert_restarted(release, result, before):
    """The run restarted the rollout waiting for approval: a new revision, one restart in the history
    from the revision `before` had. Returns the record and its restart entry."""
    assert result.rc == 0, result.summary()
    record = read_record(release.namespace)
    assert record["phase"] == "WaitingApproval" and record["revision"] != before["revision"]
    restart = [h for h in record["history"] if h["action"] == "restart"]
    assert len(restart) == 1 and (restart[0]["revision_before"], restart[0]["revision"]) == (
        before["revision"], record["revision"])
    return record, restart[0]


def task_messages(result):
    return json.dumps(result.tasks)


def set_candidate_image(k8s, namespace, image):
    api = k8s.resources.get(api_version="apps/v1", kind="Deployment")
    api.patch(name="%s-v2" % TUTORIAL_APP, namespace=namespace, content_type="application/strategic-merge-patch+json",
              body={"spec": {"template": {"spec": {"containers": [{"name": TUTORIAL_APP, "image": image}]}}}})


def test_the_promoted_revision_run_again_writes_nothing_and_says_when(release, timed_audit):
    plan = release.vars(steps=[50])
    record = assert_succeeded(release, run_playbook("canary.yml", plan))
    assert record["revision"] and record["promoted_revision"] == record["revision"] and record["promoted"]
    assert record["workload"]["name"] == "podinfo-v2" and record["workload"]["kind"] == "Deployment"

    mark = timed_audit.mark()
    again = run_playbook("canary.yml", plan)
    assert again.rc == 0 and again.changed == 0, again.summary()
    assert timed_audit.writes(mark, namespace=release.namespace) == []
    assert "already promoted at %s" % record["promoted"] in task_messages(again)
    assert read_record(release.namespace) == record


def test_a_new_image_during_the_canary_restarts_it_from_the_first_step(release):
    plan = release.vars(steps=[50], approval="before_promotion", approval_mode="split")
    first = run_playbook("canary.yml", plan)
    assert first.rc == 0, first.summary()
    before = read_record(release.namespace)
    assert (before["phase"], before["step"]) == ("WaitingApproval", 1)
    assert primary_weights(release.namespace) == {"v1": 50, "v2": 50}

    # A fix lands on the candidate while it waits: the approval given next was for the old revision.
    set_candidate_image(release.k8s, release.namespace, "ghcr.io/stefanprodan/podinfo:6.7.2")
    restarted = run_playbook("canary.yml", dict(plan, shift_traffic_approved=True))
    record, restart = assert_restarted(release, restarted, before)
    assert "revision changed from %s to %s" % (before["revision"], record["revision"]) in task_messages(restarted)
    # From the first step again: back to stable, then step 1 with its gate, then the approval point.
    actions = [h["action"] for h in record["history"]]
    assert actions[actions.index("restart"):] == ["restart", "step", "wait_approval"], actions
    assert record["failed_checks"] == 0
    after_restart = [d for d in record["decisions"] if d["time"] >= restart["time"]]
    assert [d["verdict"] for d in after_restart if d.get("verdict")] and \
        all(d["verdict"] == "pass" for d in after_restart if d.get("verdict"))

    promoted = run_playbook("canary.yml", dict(plan, shift_traffic_approved=True))
    done = assert_succeeded(release, promoted)
    assert done["promoted_revision"] == record["revision"]


def config_maps(k8s, namespace):
    api = k8s.resources.get(api_version="v1", kind="ConfigMap")
    return {c.metadata.name: dict(c.data or {}) for c in api.get(namespace=namespace).items
            if c.metadata.name.endswith("-config")}


def test_a_version_that_differs_only_in_its_config_is_a_revision_and_its_change_restarts_the_canary(release):
    """Same image for both versions, each with a ConfigMap of its own (deploy_versions' config): the
    candidate's revision is its configuration. A change of the candidate's configuration during the
    canary (deploy_versions run again with it) restarts the analysis; the stable version's own
    ConfigMap and workload are never touched."""
    image = "ghcr.io/stefanprodan/podinfo:6.7.0"
    configs = {"v1": {"app.yaml": "colour: blue\n"}, "v2": {"app.yaml": "colour: green\n"}}
    plan = dict(release.vars(steps=[50], approval="before_promotion", approval_mode="split"), release_deploy=True,
                release_images={"v1": image, "v2": image}, release_configs=configs)
    first = run_playbook("canary.yml", plan)
    assert first.rc == 0, first.summary()
    before = read_record(release.namespace)
    assert (before["phase"], before["step"]) == ("WaitingApproval", 1)
    assert "podinfo-v2-config" in json.dumps(before["workload"]), before["workload"]
    assert config_maps(release.k8s, release.namespace) == {"podinfo-v1-config": configs["v1"],
                                                           "podinfo-v2-config": configs["v2"]}
    deployments = release.k8s.resources.get(api_version="apps/v1", kind="Deployment")
    v1 = deployments.get(name="podinfo-v1", namespace=release.namespace)
    v2 = deployments.get(name="podinfo-v2", namespace=release.namespace)
    assert v1.spec.template.spec.containers[0].image == v2.spec.template.spec.containers[0].image == image
    mounts = v2.spec.template.spec.containers[0].volumeMounts
    assert [(m.mountPath, m.readOnly) for m in mounts] == [("/etc/podinfo", True)]

    # Only the candidate's configuration changes; the approval given with it was for the old revision.
    changed = dict(configs, v2={"app.yaml": "colour: red\n"})
    restarted = run_playbook("canary.yml", dict(plan, release_configs=changed, shift_traffic_approved=True))
    record, dummy = assert_restarted(release, restarted, before)
    assert config_maps(release.k8s, release.namespace) == {"podinfo-v1-config": configs["v1"],
                                                           "podinfo-v2-config": changed["v2"]}
    # The stable version: its workload not written again (same resourceVersion), its ConfigMap its own.
    assert deployments.get(name="podinfo-v1", namespace=release.namespace).metadata.resourceVersion == \
        v1.metadata.resourceVersion

    promoted = run_playbook("canary.yml", dict(plan, release_configs=changed, shift_traffic_approved=True))
    done = assert_succeeded(release, promoted)
    assert done["promoted_revision"] == record["revision"]


def test_a_config_that_is_not_files_is_named_and_nothing_is_written(release, timed_audit):
    mark = timed_audit.mark()
    plan = dict(release.vars(steps=[50]), release_deploy=True, release_configs={"v2": {"bad key/": "x"}})
    result = run_playbook("canary.yml", plan)
    assert result.rc != 0
    assert "deploy_versions_candidate.config" in (result.failure() or ""), result.summary()
    assert "are not ConfigMap keys" in (result.failure() or "")
    assert timed_audit.writes(mark, namespace=release.namespace) == []


def daemonset_objects(namespace):
    """The release's objects with each version a DaemonSet instead of a Deployment."""
    out = []
    for obj in release_objects(namespace):
        if obj["kind"] == "Deployment":
            obj = copy.deepcopy(obj)
            obj["kind"] = "DaemonSet"
            obj["spec"].pop("replicas", None)
        out.append(obj)
    return out


def daemonsets_of(k8s, namespace):
    return sorted(d.metadata.name for d in k8s.resources.get(api_version="apps/v1", kind="DaemonSet").get(
        namespace=namespace).items)


def test_a_daemonset_release_promotes_and_deletes_the_old_version(k8s, namespace, prometheus_url, mesh_simulator):
    apply_objects(k8s, daemonset_objects(namespace))
    mesh_simulator.wait_synced(k8s, namespace)
    mesh_simulator.wait_scraped(prometheus_url)
    # The simulator serves DaemonSets as it serves Deployments: the gates are the usual metrics, with load.
    plan = release_vars(namespace, prometheus_url, mesh_simulator, steps=[50], workload_kind="DaemonSet")
    result = run_playbook("canary.yml", plan)
    assert result.rc == 0, result.summary()
    record = wait_record(namespace, lambda r: r["phase"] == "Succeeded", timeout=10)
    assert record["workload"]["kind"] == "DaemonSet" and record["promoted_revision"] == record["revision"]
    passed = [d for d in record["decisions"] if d.get("verdict") == "pass" and "request-success-rate" in json.dumps(d)]
    assert passed, record["decisions"]
    assert primary_weights(namespace) == {"v2": 100}
    assert daemonsets_of(k8s, namespace) == ["podinfo-v2"]


def test_a_failing_daemonset_candidate_is_rolled_back_and_both_versions_stay(k8s, namespace, prometheus_url,
                                                                             mesh_simulator):
    objects = daemonset_objects(namespace)
    candidate = next(o for o in objects if o["kind"] == "DaemonSet" and o["metadata"]["name"] == "podinfo-v2")
    candidate["metadata"].setdefault("annotations", {})[ERROR_RATE_ANNOTATION] = "0.5"
    apply_objects(k8s, objects)
    mesh_simulator.wait_synced(k8s, namespace)
    mesh_simulator.wait_scraped(prometheus_url)
    plan = release_vars(namespace, prometheus_url, mesh_simulator, steps=[50], workload_kind="DaemonSet")
    result = run_playbook("canary.yml", plan)
    assert result.rc != 0
    assert "request-success-rate" in (result.failure() or ""), result.summary()
    record = wait_record(namespace, lambda r: r["phase"] == "Failed", timeout=10)
    assert record["workload"]["kind"] == "DaemonSet"
    weights = primary_weights(namespace)
    assert weights.get("v1") == 100 and sum(weights.values()) == 100, weights
    # A rollback deletes nothing: the candidate stays for a look, the stable version serves.
    assert daemonsets_of(k8s, namespace) == ["podinfo-v1", "podinfo-v2"]


pytestmark = pytest.mark.testbed
