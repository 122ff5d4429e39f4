"""The mesh simulator: a small stand-in for Istio's data plane, for tests only.

Envoy cannot run on the test bed's machines, so this process plays the part of the ingress
gateway, the sidecars and the application pods at once:

* it watches Gateways, VirtualServices, DestinationRules, Services, Deployments and DaemonSets in the
  namespaces it is given, through the API server (``cluster.py``);
* it routes each request on its ingress port as the live VirtualService says: match, weights,
  mirror, fault, rewrite, timeout (``routing.py``, pure);
* it answers like podinfo, one backend per Deployment, with error rate and latency set at run
  time by annotations on the Deployment (``backend.py``, pure);
* it exports ``istio_requests_total`` and ``istio_request_duration_milliseconds`` with Istio's
  standard labels for Prometheus to scrape (``metrics.py``).

It is not part of the collection and is never shipped. See docs/mesh-simulator.md.
"""

__version__ = "0.1.0"
