"""Connection options read exactly as kubernetes.core reads them."""

import pytest

from ansible_collections.rollouts.istio.plugins.module_utils._edges import k8s_auth as A


def test_option_names_aliases_and_types_match_kubernetes_core():
    kcore = pytest.importorskip("ansible_collections.kubernetes.core.plugins.module_utils.args_common")
    ours = {k: (v.get("type", "str"), sorted(v.get("aliases", [])), bool(v.get("no_log")))
            for k, v in A.AUTH_ARG_SPEC.items()}
    theirs = {k: (v.get("type", "str"), sorted(v.get("aliases", [])), bool(v.get("no_log")))
              for k, v in kcore.AUTH_ARG_SPEC.items()}
    assert ours == theirs
    assert A.AUTH_ARG_MAP == kcore.AUTH_ARG_MAP
    assert A.AUTH_PROXY_HEADERS_SPEC == kcore.AUTH_PROXY_HEADERS_SPEC


def test_params_win_over_environment():
    env = {"K8S_AUTH_HOST": "https://env", "K8S_AUTH_CONTEXT": "envctx"}
    auth = A.auth_spec({"host": "https://param", "context": None}, env)
    assert auth == {"host": "https://param", "context": "envctx"}


@pytest.mark.parametrize("var,attr", [
    ("K8S_AUTH_KUBECONFIG", "kubeconfig"),
    ("K8S_AUTH_API_KEY", "api_key"),
    ("K8S_AUTH_SSL_CA_CERT", "ssl_ca_cert"),
    ("K8S_AUTH_CA_CERT", "ssl_ca_cert"),
    ("K8S_AUTH_CERT_FILE", "cert_file"),
    ("K8S_AUTH_CLIENT_CERT", "cert_file"),
    ("K8S_AUTH_KEY_FILE", "key_file"),
    ("K8S_AUTH_CLIENT_KEY", "key_file"),
    ("K8S_AUTH_PROXY", "proxy"),
    ("K8S_AUTH_NO_PROXY", "no_proxy"),
    ("K8S_AUTH_USERNAME", "username"),
    ("K8S_AUTH_PASSWORD", "password"),
])
def test_environment_variables(var, attr):
    assert A.auth_spec({}, {var: "v"}) == {attr: "v"}


@pytest.mark.parametrize("value,expected", [("false", False), ("no", False), ("0", False), ("FALSE", False),
                                            ("true", True), ("yes", True), ("1", True)])
def test_bool_environment_variables(value, expected):
    assert A.auth_spec({}, {"K8S_AUTH_VERIFY_SSL": value}) == {"verify_ssl": expected}
    assert A.auth_spec({}, {"K8S_AUTH_VALIDATE_CERTS": value}) == {"verify_ssl": expected}


def test_proxy_headers_from_environment():
    auth = A.auth_spec({}, {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "u:p", "K8S_AUTH_PROXY_HEADERS_USER_AGENT": "ua"})
    assert auth == {"proxy_headers": {"proxy_basic_auth": "u:p", "user_agent": "ua"}}


def test_impersonation_headers():
    assert A.impersonation_headers({"impersonate_user": "alice", "impersonate_groups": ["g1", "g2"]}, {}) == {
        "Impersonate-User": "alice", "Impersonate-Group": ["g1", "g2"]}
    assert A.impersonation_headers({}, {"K8S_AUTH_IMPERSONATE_GROUPS": "a,,b"}) == {"Impersonate-Group": ["a", "b"]}


def test_build_configuration_with_host_and_token_needs_no_kubeconfig(tmp_path, monkeypatch):
    pytest.importorskip("kubernetes")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "does-not-exist"))
    conf = A.build_configuration({"host": "https://k8s.example:6443/", "api_key": "tok", "verify_ssl": False})
    assert conf.host == "https://k8s.example:6443"
    assert conf.api_key == {"authorization": "Bearer tok"}
    assert conf.verify_ssl is False


def test_build_configuration_from_kubeconfig_and_context(tmp_path):
    pytest.importorskip("kubernetes")
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("""
apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://a.example:6443", insecure-skip-tls-verify: true}
- name: b
  cluster: {server: "https://b.example:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: secret}
contexts:
- name: ca
  context: {cluster: a, user: u}
- name: cb
  context: {cluster: b, user: u}
current-context: ca
""")
    conf = A.build_configuration({"kubeconfig": str(kubeconfig), "context": "cb"})
    assert conf.host == "https://b.example:6443"
    assert conf.auth_settings()["BearerToken"]["value"] == "Bearer secret"
