"""The in-memory API behind `fleet target` answers like a management cluster for what targeting
reads, and nothing else: unknown kinds are refused when stored, unknown paths are 404, writes 405."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import yaml

from tools.gitops.fakeapi import Store, serve


def _get(kubeconfig, path: str, method: str = "GET") -> tuple[int, dict]:
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    request = urllib.request.Request(server + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_lists_by_namespace_and_refuses_the_rest(tmp_path):
    store = Store()
    store.add(
        {
            "apiVersion": "fleet.cattle.io/v1alpha1",
            "kind": "ClusterGroup",
            "metadata": {"name": "edge", "namespace": "fleet-default"},
        }
    )
    with serve(store, tmp_path / "kubeconfig.yaml") as kubeconfig:
        code, body = _get(kubeconfig, "/apis/fleet.cattle.io/v1alpha1/namespaces/fleet-default/clustergroups")
        assert code == 200 and [i["metadata"]["name"] for i in body["items"]] == ["edge"]
        code, body = _get(kubeconfig, "/apis/fleet.cattle.io/v1alpha1/namespaces/other/clustergroups")
        assert code == 200 and body["items"] == []
        assert _get(kubeconfig, "/apis/fleet.cattle.io/v1alpha1/gitrepos")[0] == 404
        assert _get(kubeconfig, "/apis/fleet.cattle.io/v1alpha1/namespaces/fleet-default/clustergroups/x")[0] == 404
        assert _get(kubeconfig, "/api/v1/namespaces/fleet-default/secrets", method="POST")[0] == 405


def test_an_unknown_kind_is_refused_when_stored():
    with pytest.raises(ValueError, match="does not serve kind 'GitRepo'"):
        Store().add({"apiVersion": "fleet.cattle.io/v1alpha1", "kind": "GitRepo", "metadata": {"name": "x"}})
