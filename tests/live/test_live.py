"""Behaviour through a real Apache serving the rendered bundle, with fake GIR members."""

from __future__ import annotations

import pytest

from live.harness import request

pytestmark = pytest.mark.tools

# path under /tN -> path the member receives (the guide's mappings: RP serves /api)
PATHS = {
    "rws": [("/api/v2/me", "/api/v2/me"), ("/internal-api/x", "/internal-api/x")],
    "rp": [("/rp/api/jobs", "/api/jobs")],
    "rcs": [("/rcs/api/v1/keys", "/rcs/api/v1/keys")],
    "interaction_receiver": [("/interactionreceiver/events", "/interactionreceiver/events")],
    "webdav": [("/recordings/a.mp3", "/recordings/a.mp3"), ("/dest2/b.mp3", "/dest2/b.mp3")],
}


@pytest.mark.parametrize("tid", ["t1", "t2"])
@pytest.mark.parametrize("svc", list(PATHS))
def test_every_path_reaches_its_tenants_service_with_the_path_gir_expects(lb, tid, svc):
    for path, received in PATHS[svc]:
        r = request("GET", f"/{tid}{path}?q=1", lb.port)
        assert r.status == 200, (r.status, r.body)
        body = r.json()
        assert body["member"].startswith(f"{tid}-{svc}-"), body
        assert body["path"] == f"{received}?q=1"
