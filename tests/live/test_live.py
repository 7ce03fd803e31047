"""Behaviour through a real Apache serving the rendered bundle, with fake GIR members."""

from __future__ import annotations

import re
import ssl
import time
import warnings

import pytest

from lab.live import push_step, request
from tests.live.conftest import NO_TLS


def needs_tls(lb) -> None:
    if not lb.settings.httpd.tls.enabled:
        pytest.skip(NO_TLS)

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


def served(lb, tid: str) -> dict[str, int]:
    return {m.name: m.stats()["served"] for (t, _, _), m in lb.fleet.members.items() if t == tid}


def route_cookie(r) -> list[str]:
    return [c for c in r.header_all("Set-Cookie") if c.startswith("ROUTEID=")]


def test_tenants_are_isolated(lb):
    before_t2 = served(lb, "t2")
    before_t1 = sum(served(lb, "t1").values())
    for i in range(30):
        svc = list(PATHS)[i % 5]
        assert request("GET", f"/t1{PATHS[svc][0][0]}", lb.port).status == 200
    assert served(lb, "t2") == before_t2  # a burst to t1 moves no t2 member
    assert sum(served(lb, "t1").values()) == before_t1 + 30


def test_a_t1_cookie_sent_to_t2_is_ignored(lb):
    t1 = request("GET", "/t1/api/login", lb.port)
    cookie = route_cookie(t1)[0].split(";")[0]
    assert cookie.startswith("ROUTEID=.T1RWS")
    members = set()
    for _ in range(6):
        r = request("GET", "/t2/api/me", lb.port, headers={"Cookie": cookie})
        assert r.status == 200 and r.json()["member"].startswith("t2-rws-")
        assert [c.split(";")[0] for c in route_cookie(r)][0].startswith("ROUTEID=.T2RWS")
        members.add(r.json()["member"])
    assert len(members) == 2  # not pinned by another tenant's route


def test_rws_sticks_by_routeid_scoped_to_the_tenant(lb):
    login = request("GET", "/t1/api/v2/login", lb.port)
    cookies = route_cookie(login)
    assert len(cookies) == 1 and cookies[0].endswith("; path=/t1"), cookies
    assert all("path=/t2" not in c for c in login.header_all("Set-Cookie"))  # no cookie for t2
    cookie = cookies[0].split(";")[0]
    member = login.json()["member"]
    assert cookie == f"ROUTEID=.{lb.fleet[('t1', 'rws', int(member[-1]) - 1)].route}"
    for path in ["/t1/api/v2/me"] * 5 + ["/t1/internal-api/x"] * 3:
        r = request("GET", path, lb.port, headers={"Cookie": cookie})
        assert r.json()["member"] == member and route_cookie(r) == []
    rcs = request("GET", "/t1/rcs/api/keys", lb.port, headers={"Cookie": cookie})
    assert rcs.status == 200 and route_cookie(rcs) == []  # an RCS call does not touch ROUTEID


def test_rws_failover_to_another_member_with_a_new_cookie(healthy):
    lb = healthy
    login = request("GET", "/t1/api/login", lb.port)
    cookie, member = route_cookie(login)[0].split(";")[0], login.json()["member"]
    lb.fleet[("t1", "rws", int(member[-1]) - 1)].stop()
    r = request("GET", "/t1/api/me", lb.port, headers={"Cookie": cookie})
    assert r.status == 200 and r.json()["member"] != member
    new = route_cookie(r)
    assert len(new) == 1 and new[0].split(";")[0] != cookie and new[0].endswith("path=/t1")


def test_rcs_sticks_by_jsessionid_cookie_or_url_and_rewrites_path_and_location(lb):
    first = request("GET", "/t2/rcs/api/session", lb.port)
    jsession = [c for c in first.header_all("Set-Cookie") if c.startswith("JSESSIONID=")]
    assert len(jsession) == 1 and "Path=/t2/rcs" in jsession[0], jsession
    for i in (0, 1):
        route = lb.fleet[("t2", "rcs", i)].route
        for _ in range(4):
            by_cookie = request("GET", "/t2/rcs/api/x", lb.port, headers={"Cookie": f"JSESSIONID=ABCD.{route}"})
            assert by_cookie.json()["member"] == f"t2-rcs-{i + 1}"
            by_url = request("GET", f"/t2/rcs/api/x;jsessionid=ABCD.{route}", lb.port)
            assert by_url.json()["member"] == f"t2-rcs-{i + 1}"
    redirect = request(
        "GET", "/t2/rcs/redirect", lb.port, headers={"Cookie": "JSESSIONID=ABCD." + lb.fleet[("t2", "rcs", 0)].route}
    )
    assert redirect.status == 302
    assert redirect.header_all("Location") == [f"http://127.0.0.1:{lb.port}/t2/rcs/after"]


def test_rcs_opens_a_backend_connection_per_request_and_the_others_reuse_theirs(lb):
    """RCS (disablereuse=On: a pooled connection would carry one agent's session to the next) gets a
    new connection for every request. RP reuses: each httpd process keeps at most one idle
    connection per member, so sequential requests open at most processes x members, fewer than the
    requests sent."""
    count = 40

    def totals(svc: str) -> tuple[int, int, int]:
        stats = [m.stats() for (t, s, _), m in lb.fleet.members.items() if (t, s) == ("t1", svc)]
        return sum(x["served"] for x in stats), sum(x["connections"] for x in stats), len(stats)

    for svc, path in (("rcs", "/t1/rcs/api/x"), ("rp", "/t1/rp/api/jobs")):
        served, opened, members = totals(svc)
        processes = len(lb.node.worker_processes())
        for _ in range(count):
            assert request("GET", path, lb.port).status == 200
        served_now, opened_now, _ = totals(svc)
        assert served_now - served == count
        if svc == "rcs":
            assert opened_now - opened == count
        else:
            assert processes * members < count, (processes, members)  # else the bound proves nothing
            assert opened_now - opened <= processes * members, (opened_now - opened, processes, members)


@pytest.mark.parametrize("svc, path", [("rp", "/rp/api/jobs"), ("interaction_receiver", "/interactionreceiver/e")])
def test_rp_and_ir_spread_over_all_members(lb, svc, path):
    members = [request("GET", f"/t1{path}", lb.port).json()["member"] for _ in range(8)]
    assert set(members) == {f"t1-{svc}-1", f"t1-{svc}-2"}


def test_webdav_hot_standby_and_retry(healthy):
    lb = healthy
    primary = lb.fleet[("t2", "webdav", 0)]
    members = {request("GET", "/t2/recordings/a", lb.port).json()["member"] for _ in range(6)}
    assert members == {"t2-webdav-1"}  # the standby takes nothing while member 1 is up
    primary.stop()
    down_at = time.monotonic()
    r = request("GET", "/t2/recordings/a", lb.port)
    assert r.status == 200 and r.json()["member"] == "t2-webdav-2"  # from the first request on
    primary.start()
    retry = lb.settings.httpd.services.webdav.retry_s
    assert request("GET", "/t2/dest2/b", lb.port).json()["member"] == "t2-webdav-2"  # inside `retry`
    time.sleep(max(0.0, down_at + retry + 0.5 - time.monotonic()))
    assert request("GET", "/t2/recordings/a", lb.port).json()["member"] == "t2-webdav-1"  # back after it


def test_all_members_refused_gives_503_fast(healthy):
    lb = healthy
    for i in (0, 1):
        lb.fleet[("t2", "rp", i)].stop()
    r = request("GET", "/t2/rp/api/jobs", lb.port)
    assert r.status == 503 and r.elapsed < 1.0, (r.status, r.elapsed)


def test_unreachable_member_fails_over_within_connectiontimeout(healthy):
    """The Interaction Receiver's connect timeout (1 s here) is well below its request timeout
    (5 s), which mod_proxy would use to connect without `connectiontimeout`: only the rendered
    parameter keeps the failover this fast."""
    lb = healthy
    timing = lb.settings.httpd.services.interaction_receiver
    connect = timing.connect_timeout_ms / 1000
    assert connect + 1.5 < timing.timeout_s
    lb.fleet[("t2", "interaction_receiver", 0)].make_unreachable()
    results = [request("GET", "/t2/interactionreceiver/e", lb.port, timeout=30) for _ in range(4)]
    served = [(r.status, r.json()["member"] if r.status == 200 else r.body) for r in results]
    assert all(s == (200, "t2-interaction_receiver-2") for s in served), served
    slowest = max(r.elapsed for r in results)
    print(f"\nunreachable member: slowest request {slowest:.2f}s (connectiontimeout {connect}s, timeout {timing.timeout_s}s)")
    assert connect * 0.8 <= slowest <= connect + 1.5  # it did hit the unreachable one, and no longer than connectiontimeout


def test_frozen_member_does_not_hold_a_request_past_timeout(healthy):
    lb = healthy
    timeout = lb.settings.httpd.services.rp.timeout_s
    lb.fleet[("t1", "rp", 0)].freeze()
    hit = None
    for _ in range(4):
        r = request("GET", "/t1/rp/api/jobs", lb.port, timeout=60)
        if r.status != 200:
            hit = r
            break
    assert hit is not None, "no request reached the frozen member"
    print(f"\nfrozen member: {hit.status} after {hit.elapsed:.2f}s (timeout {timeout}s)")
    assert hit.status in (502, 504) and timeout * 0.9 <= hit.elapsed <= timeout + 1.5


def test_server_status_is_loopback_only_and_hides_query_strings(lb):
    import threading

    poll = threading.Thread(target=request, args=("GET", "/t1/api/poll?hold=3&access_token=SECRET123", lb.port))
    poll.start()
    try:
        time.sleep(0.5)
        status = request("GET", "/server-status", lb.port)
        assert status.status == 200 and "Apache Server Status" in status.body
        assert "SECRET123" not in status.body and "access_token" not in status.body
    finally:
        poll.join(timeout=10)
    assert request("GET", "/server-status", lb.port, source="127.0.0.2").status == 403
    assert request("GET", "/balancer-manager", lb.port).status == 404
    assert request("GET", "/t1/balancer-manager", lb.port).status == 404


def test_served_on_the_stacks_ports_and_on_no_other(lb):
    """httpd.port (not 80 here) and httpd.tls.port answer because the rendered ports.conf says so:
    the node's ports.conf had no Listen line before the push."""
    assert lb.settings.httpd.port == lb.port != 80
    ports = sorted([port for port, _ in lb.settings.httpd.listen_ports])
    assert lb.node.https_port in ports or not lb.settings.httpd.tls.enabled
    listens = re.findall(r"^Listen (\S+)", lb.node.listen_file.read_text(), re.M)
    assert sorted(listens) == [f"127.0.0.1:{p}" for p in ports]
    assert request("GET", "/t1/api/me", lb.port).status == 200
    if lb.settings.httpd.tls.enabled:
        assert request("GET", "/t1/api/me", lb.node.https_port, tls=True).status == 200
    # the sockets httpd holds (ss sees the box's processes only)
    ss = lb.node.run("ss", "-Hltnp")
    held = {int(line.split()[3].rsplit(":", 1)[1]) for line in ss.stdout.splitlines() if f'"{lb.node.process}"' in line}
    assert sorted(held) == ports, ss.stdout


def test_tls_front_refuses_old_protocols(lb):
    needs_tls(lb)
    ctx = ssl.create_default_context(cafile=str(lb.pki["front_crt"]))
    r = request("GET", "/t1/api/me", lb.node.https_port, tls=True, context=ctx)
    assert r.status == 200 and r.json()["member"].startswith("t1-rws-")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():  # the old versions are deprecated client-side too: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError):
        request("GET", "/t1/api/me", lb.node.https_port, tls=True, context=old)
    new = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    new.check_hostname, new.verify_mode = False, ssl.CERT_NONE
    new.maximum_version = ssl.TLSVersion.TLSv1_2
    assert request("GET", "/t1/api/me", lb.node.https_port, tls=True, context=new).status == 200
    # Only SSLProtocol refused it: the node's OpenSSL speaks TLS 1.0 (security level 0) once the
    # rendered line allows it. The rendered files go back afterwards.
    allowing = push_step(lb.settings, edit=lambda p, t: re.sub(r"(?m)^(\s*SSLProtocol) .*$", r"\1 all", t))
    try:
        assert lb.node.push(allowing, lb.tls_pair).returncode == 0
        assert request("GET", "/t1/api/me", lb.node.https_port, tls=True, context=old).status == 200
    finally:
        assert lb.node.push(push_step(lb.settings), lb.tls_pair).returncode == 0
    with pytest.raises(ssl.SSLError):
        request("GET", "/t1/api/me", lb.node.https_port, tls=True, context=old)


def test_https_members_are_verified(lb):
    needs_tls(lb)
    trusted = request("GET", "/t3/rp/api/jobs", lb.port)
    assert trusted.status == 200 and trusted.json()["member"] == "t3-rp-1"
    untrusted = request("GET", "/t3/interactionreceiver/e", lb.port)
    assert untrusted.status >= 500 and "t3-interaction_receiver" not in untrusted.body, untrusted.status
    assert "Certificate Verification: Error" in lb.node.error_log()
