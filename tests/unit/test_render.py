"""The renderer: pure, deterministic, and what each file must say (the guide's conventions with
the measured multi-tenant fixes)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.plan import comment_out_listen, push_script
from blueprint.render import holds_vip_command, mpm_sizing, render_bundle
from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import REPO, STACK_NAMES, base_config, stack_config, tenant

SECRET = "S3cr3t-Do-Not-Leak"


def bundle_of(cfg):
    return render_bundle(parse_settings(cfg))


def test_the_blueprint_package_never_imports_pulumi():
    """The pure core stays pure: importing every module of it loads no Pulumi module."""
    found = (REPO / "blueprint").rglob("*.py")
    modules = sorted(".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__") for p in found)
    assert {"blueprint.settings.rules", "blueprint.profiles", "blueprint.render", "blueprint.plan"} <= set(modules)
    code = f"import sys, {', '.join(modules)}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'pulumi'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# Every stack's tree rendered in a fresh interpreter: a SHA-256 per file, and its hash of one string.
RENDER_ELSEWHERE = """
import hashlib, json, sys
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from tests.conftest import stack_config

trees = {
    name: {p: hashlib.sha256(t.encode()).hexdigest() for p, t in render_bundle(parse_settings(stack_config(name))).tree().items()}
    for name in sys.argv[1:]
}
print(json.dumps({"hash": hash("gir-lb"), "trees": trees}))
"""


@pytest.fixture(scope="module")
def rendered_under_another_hash_seed() -> dict:
    """What another process renders, whose str hashes (and so set orders) differ from this one's."""
    seed = "1" if os.environ.get("PYTHONHASHSEED") == "0" else "0"  # this process: random, or as set
    env = os.environ | {"PYTHONHASHSEED": seed}
    done = subprocess.run(
        [sys.executable, "-c", RENDER_ELSEWHERE, *STACK_NAMES], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", STACK_NAMES)
def test_rerender_is_byte_identical(name, rendered_under_another_hash_seed):
    a = render_bundle(parse_settings(stack_config(name))).tree()
    b = render_bundle(parse_settings(stack_config(name))).tree()
    assert a == b and len(a) >= 10
    elsewhere = rendered_under_another_hash_seed
    assert elsewhere["hash"] != hash("gir-lb")  # the two sides really hash differently
    assert {p: hashlib.sha256(t.encode()).hexdigest() for p, t in a.items()} == elsewhere["trees"][name]


def test_layout_for_rhel_and_debian():
    rhel = bundle_of(base_config("rhel9")).tree()
    assert {
        "etc/httpd/conf.d/serverstatus.conf",
        "etc/httpd/conf.d/gir-lb.conf",
        "etc/httpd/conf.d/gir-lb-mpm.conf",
        "etc/httpd/conf.d/gir-lb-listen.conf",
        "etc/httpd/conf.d/ssl.conf",
        "etc/httpd/conf.d/gir-lb/loadbalancer_t1.conf",
        "etc/httpd/conf.d/gir-lb/loadbalancer_t2.conf",
        "cloud-init/user-data.yaml",
        "cluster/node-prepare.sh",
        "cluster/cluster-setup.sh",
        "cluster/resources.sh",
        "cluster/httpd-reload.sh",
    } <= set(rhel)
    deb = bundle_of(base_config("debian12")).tree()
    assert {"etc/apache2/conf-enabled/gir-lb/loadbalancer_t1.conf", "etc/apache2/ports.conf"} <= set(deb)


def test_include_lines_name_each_tenant_once():
    tree = bundle_of(base_config()).tree()
    includes = re.findall(r"^Include (\S+)$", tree["etc/httpd/conf.d/gir-lb.conf"], re.M)
    assert includes == ["conf.d/gir-lb/loadbalancer_t1.conf", "conf.d/gir-lb/loadbalancer_t2.conf"]


@pytest.mark.parametrize(
    "profile, expect, refuse",
    [
        ("rhel6", ["Order deny,allow", "Deny from all", "Allow from 127.0.0.1"], ["Require"]),
        ("rhel9", ["Require ip 127.0.0.1"], ["Require local", "Allow from"]),
    ],
)
def test_serverstatus_is_loopback_only(profile, expect, refuse):
    text = bundle_of(base_config(profile)).tree()["etc/httpd/conf.d/serverstatus.conf"]
    assert "SetHandler server-status" in text and "ExtendedStatus Off" in text
    assert all(e in text for e in expect) and not any(r in text for r in refuse)


def tenant_conf(cfg, tid="t1", profile_dir="etc/httpd/conf.d/gir-lb"):
    return bundle_of(cfg).tree()[f"{profile_dir}/loadbalancer_{tid}.conf"]


def test_rws_block():
    text = tenant_conf(base_config())
    assert '<Proxy "balancer://t1-rws">' in text
    assert 'BalancerMember "http://127.0.0.1:9101" route=T1RWS1 connectiontimeout=3000ms timeout=300 retry=30' in text
    assert "ProxySet stickysession=ROUTEID\n" in text
    # cookie header scoped to this tenant's RWS paths, with the exact env name
    block = re.search(r'<LocationMatch "\^/t1/\(api\|internal-api\)\(/\|\$\)">\n(.*?)</LocationMatch>', text, re.S)
    assert block, text
    assert block.group(1).strip() == (
        'Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/t1" env=BALANCER_ROUTE_CHANGED'
    )
    assert text.count("Header add Set-Cookie") == 1
    assert 'ProxyPass        "/t1/api"          "balancer://t1-rws/api"' in text
    assert 'ProxyPass        "/t1/internal-api" "balancer://t1-rws/internal-api"' in text


def test_rp_has_no_hot_standby_and_no_stickiness():
    text = tenant_conf(base_config())
    rp = re.search(r'<Proxy "balancer://t1-rp">(.*?)</Proxy>', text, re.S).group(1)
    assert rp.count("BalancerMember") == 2 and "status=" not in rp and "sticky" not in rp
    assert 'ProxyPass        "/t1/rp/api" "balancer://t1-rp/api"' in text


def test_rcs_block():
    text = tenant_conf(base_config())
    rcs = re.search(r'<Proxy "balancer://t1-rcs">(.*?)</Proxy>', text, re.S).group(1)
    assert 'BalancerMember "http://127.0.0.1:9121" route=T1_RCS_1 disablereuse=On connectiontimeout=10000ms' in rcs
    assert "ProxySet stickysession=JSESSIONID|jsessionid" in rcs
    assert 'ProxyPass        "/t1/rcs" "balancer://t1-rcs/rcs"' in text
    assert re.search(r'<LocationMatch "\^/t1/rcs\(/\|;\|\$\)">\n\s+ProxyPassReverseCookiePath "/rcs" "/t1/rcs"', text)


def test_ir_and_webdav_blocks():
    text = tenant_conf(base_config())
    assert 'ProxyPass        "/t1/interactionreceiver" "balancer://t1-ir/interactionreceiver"' in text
    dav = re.search(r'<Proxy "balancer://t1-webdav">(.*?)</Proxy>', text, re.S).group(1)
    lines = [line.strip() for line in dav.strip().splitlines()]
    assert lines[0].endswith("retry=30") and lines[1].endswith("status=+H"), lines
    for path in ("recordings", "dest2"):
        assert f'ProxyPass        "/t1/{path}" "balancer://t1-webdav/{path}"' in text


def test_service_timings_come_from_settings():
    cfg = base_config(httpd={"services": {"rws": {"connect_timeout_ms": 1500, "timeout_s": 900, "retry_s": 5}}})
    text = tenant_conf(cfg)
    assert "route=T1RWS1 connectiontimeout=1500ms timeout=900 retry=5" in text
    assert "route=T1_RCS_1 disablereuse=On connectiontimeout=10000ms timeout=60 retry=30" in text  # defaults kept


def test_a_partial_timeout_override_renders_the_services_other_defaults():
    text = tenant_conf(base_config(httpd={"services": {"rcs": {"timeout_s": 90}}}))
    assert "route=T1_RCS_1 disablereuse=On connectiontimeout=10000ms timeout=90 retry=30" in text


def test_balancer_names_are_unique_per_tenant_and_service():
    cfg = base_config(tenants=[tenant(f"t{i}", 9000 + 100 * i) for i in range(1, 6)])
    tree = bundle_of(cfg).tree()
    names = re.findall(r'<Proxy "balancer://([^"]+)">', "".join(tree.values()))
    assert len(names) == 25 == len(set(names))


def test_tls_front_and_proxy_engine():
    plain = bundle_of(base_config()).tree()
    # No TLS, no https member: RHEL's stock ssl.conf (Listen 443, a default vhost) is still replaced.
    assert not re.search(r"^\s*(SSL|Listen|<VirtualHost)", plain["etc/httpd/conf.d/ssl.conf"], re.M)
    assert not any(p.endswith("ssl.conf") for p in bundle_of(base_config("debian12")).tree())
    tls = bundle_of(base_config(httpd={"tls": {"enabled": True}})).tree()
    ssl = tls["etc/httpd/conf.d/ssl.conf"]
    assert listens({"ssl.conf": ssl}) == [] and "SSLProtocol -all +TLSv1.2 +TLSv1.3" in ssl
    assert 'SSLCertificateKeyFile "conf.d/gir-lb/tls/server.key"' in ssl and "SSLProxyEngine" not in ssl
    assert tls["etc/httpd/conf.d/gir-lb/tls/server.key"].startswith("<secret:")
    https_member = base_config()
    https_member["tenants"][0]["rws"]["members"][0]["url"] = "https://127.0.0.1:9443"
    ssl2 = bundle_of(https_member).tree()["etc/httpd/conf.d/ssl.conf"]
    assert "SSLProxyEngine on" in ssl2 and "SSLProxyVerify require" in ssl2 and "<VirtualHost" not in ssl2
    old = bundle_of(base_config("rhel6", httpd={"tls": {"enabled": True}})).tree()["etc/httpd/conf.d/ssl.conf"]
    assert "SSLProtocol all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1" in old
    assert "LoadModule ssl_module modules/mod_ssl.so" in old  # RHEL 6 loads mod_ssl from the ssl.conf we replace


def listens(tree: dict[str, str]) -> list[str]:
    return [line for text in tree.values() for line in text.splitlines() if line.startswith("Listen ")]


@pytest.mark.parametrize("profile", ["rhel6", "rhel8", "rhel9"])
def test_rhel_listens_on_exactly_the_stack_ports_and_the_push_comments_out_httpd_conf_listen(profile):
    """RHEL's httpd.conf (not ours) has `Listen 80`: the push turns it into a comment (and keeps a
    backup to restore), so the bundle's listen file holds every Listen, the default 80 included."""
    s = parse_settings(base_config(profile, httpd={"tls": {"enabled": True}}))
    default = render_bundle(s).tree()
    assert listens(default) == ["Listen 80 http", "Listen 443 https"]
    other = bundle_of(base_config(profile, httpd={"port": 8080, "tls": {"enabled": True, "port": 8443}})).tree()
    assert listens(other) == ["Listen 8080 http", "Listen 8443 https"]
    assert listens(bundle_of(base_config(profile, httpd={"port": 8080})).tree()) == ["Listen 8080 http"]
    push = push_script(s, render_bundle(s))
    assert comment_out_listen(s) in push and "/etc/httpd/conf/httpd.conf" in push.split("managed=(")[1].split(")")[0]


def test_commenting_out_the_stock_listen_twice_changes_nothing_more(tmp_path):
    s = parse_settings(base_config("rhel9"))
    conf = tmp_path / "httpd.conf"
    conf.write_text('ServerRoot "/etc/httpd"\nListen 80\n#Listen 12.34.56.78:80\nInclude conf.d/*.conf\n')
    subprocess.run(["bash", "-c", comment_out_listen(s, str(conf))], check=True)
    once = conf.read_text()
    subprocess.run(["bash", "-c", comment_out_listen(s, str(conf))], check=True)
    assert conf.read_text() == once == (
        'ServerRoot "/etc/httpd"\n# gir-lb: Listen lines live in conf.d/gir-lb-listen.conf: Listen 80\n'
        "#Listen 12.34.56.78:80\nInclude conf.d/*.conf\n"
    )


def test_debian_owns_ports_conf_with_exactly_the_stack_ports():
    plain = bundle_of(base_config("debian12")).tree()
    assert listens(plain) == ["Listen 80 http"]  # Debian's ports.conf (80, and 443 with mod_ssl) is replaced
    other = bundle_of(base_config("debian12", httpd={"port": 8080, "tls": {"enabled": True}})).tree()
    assert listens(other) == ["Listen 8080 http", "Listen 443 https"]
    assert "Listen 8080 http" in other["etc/apache2/ports.conf"]


@pytest.mark.parametrize(
    "agents, headroom, processes",
    [(1, 25, 1), (150, 25, 2), (2000, 25, 25), (10000, 20, 120)],
)
def test_mpm_sizing_holds_every_agent_plus_headroom(agents, headroom, processes):
    m = mpm_sizing(agents, headroom)
    assert m.processes == processes
    assert m.max_request_workers >= agents * (1 + headroom / 100)
    assert m.max_request_workers == m.processes * m.threads_per_child
    assert m.server_limit == 2 * m.processes  # graceful-reload headroom


def test_mpm_file_matches_sizing():
    text = bundle_of(base_config(httpd={"max_agents": 2000})).tree()["etc/httpd/conf.d/gir-lb-mpm.conf"]
    assert re.search(r"MaxRequestWorkers\s+2500\n", text) and re.search(r"ServerLimit\s+50\n", text)
    old = bundle_of(base_config("rhel6", httpd={"max_agents": 2000})).tree()["etc/httpd/conf.d/gir-lb-mpm.conf"]
    # 2.2's worker: ThreadsPerChild before MaxClients, MaxClients = ServerLimit x ThreadsPerChild
    # (tests/live/test_mpm.py, tests/tools/test_httpd22.py say why)
    assert "<IfModule worker.c>" in old and re.search(r"ThreadsPerChild\s+100\n(.*\n)*\s+MaxClients\s+5000\n", old)


def test_user_data_has_no_tenant_config_and_no_secret(tmp_path):
    cfg = base_config(hacluster_password=SECRET, httpd={"tls": {"enabled": True}})
    cfg["tls_cert"], cfg["tls_key"] = real_programs.test_certificate(str(tmp_path))
    b = bundle_of(cfg)
    assert SECRET not in "".join(b.tree().values())
    assert cfg["tls_key"].splitlines()[1] not in "".join(b.tree().values()) + b.user_data
    for word in ("t1", "127.0.0.1", "BalancerMember", "T1RWS1"):
        assert word not in b.user_data
    other = base_config(hacluster_password=SECRET, tenants=[tenant("t9", 9900)])
    assert bundle_of(other).user_data == b.user_data  # tenants never change user-data


def test_user_data_packages_per_profile():
    assert "- cman\n" in bundle_of(base_config("rhel6")).user_data
    rhel9 = bundle_of(base_config("rhel9")).user_data
    assert "- fence-agents-aws\n" in rhel9 and "- cman" not in rhel9
    assert "- disable\n  - --now\n  - httpd\n" in rhel9
    assert "- a2enmod\n" in bundle_of(base_config("debian12")).user_data


def test_cluster_scripts_per_stack():
    old = bundle_of(base_config("rhel6")).scripts
    setup = old["cluster-setup.sh"]
    order = [
        "--createcluster gir-lb-test",
        "--addnode lb-a",
        "--addnode lb-b",
        "--addfencedev pcmk agent=fence_pcmk",
        "--addmethod pcmk-redirect lb-a",
        "--addmethod pcmk-redirect lb-b",
        "--addfenceinst pcmk lb-a pcmk-redirect port=lb-a",
        "--addfenceinst pcmk lb-b pcmk-redirect port=lb-b",
        "--setcman two_node=1 expected_votes=1 transport=udpu",
        "CMAN_QUORUM_TIMEOUT=0",
        "service cman start",
        "service pacemaker start",
    ]
    positions = [setup.index(x) for x in order]
    assert positions == sorted(positions)
    assert "pcs_f property set no-quorum-policy=ignore" in old["resources.sh"]
    new = bundle_of(base_config("rhel9")).scripts["cluster-setup.sh"]
    assert "pcs host auth lb-a addr=10.0.1.11 lb-b addr=10.0.1.12 -u hacluster" in new
    assert "transport knet link ping_interval=375 ping_timeout=750 \\\n    totem token=3000" in new
    assert "ccs -f \"$new\" --settotem token=10000" in old["cluster-setup.sh"]  # cman keeps its own default
    start = bundle_of(base_config("rhel9")).scripts["cluster-start.sh"]
    assert "pcs cluster start --all --wait=300" in start and "pcs cluster enable --all" in start
    assert " -p " not in new  # the password never goes on a command line


def test_vip_resources_per_mode():
    aws = bundle_of(base_config("rhel9")).scripts["resources.sh"]
    assert "ocf:gir-lb:awsvip secondary_private_ip=10.0.1.50" in aws and "--group virtual_ip" in aws
    assert "fence_aws region=eu-west-1" in aws and "stonith-enabled=true" in aws
    assert "op monitor interval=60s on-fail=ignore" in aws  # the fence device's: it asks the EC2 API
    assert "failure-timeout=120s" in aws  # every resource: a failure bans a node only this long
    cfg = base_config("rhel9")
    cfg["cluster"]["failure_timeout_s"] = 45
    assert "failure-timeout=45s" in bundle_of(cfg).scripts["resources.sh"]
    l2 = bundle_of(base_config("debian12")).scripts["resources.sh"]
    assert "awsvip" not in l2 and "resource create virtual_ip ocf:heartbeat:IPaddr2 ip=10.0.1.50 cidr_netmask=24" in l2
    assert "stonith-enabled=false" in l2 and "fence_aws" not in l2
    for text in (aws, l2):
        assert "statusurl=http://127.0.0.1:80/server-status" in text
        assert "constraint colocation add webserver with virtual_ip INFINITY" in text
        assert "constraint order virtual_ip 'then' webserver" in text


def with_device(os_profile: str = "rhel9", **device) -> dict:
    cfg = base_config(os_profile, hacluster_password=SECRET)
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True, **device}
    return cfg


def test_a_quorum_device_drops_the_fencing_delay_and_the_webserver_priority():
    """The arbiter settles a split: no race between the nodes, so no priority-fencing-delay and no
    priority for the node running httpd. Without a device, resources.sh is as it was."""
    without = bundle_of(base_config("rhel9")).scripts["resources.sh"]
    assert "pcs_f property set priority-fencing-delay=15s\n" in without
    assert "pcs_f resource meta webserver migration-threshold=10 priority=1\n" in without
    device = bundle_of(with_device()).scripts["resources.sh"]
    assert "pcs_f property set priority-fencing-delay=0s\n" in device and "priority-fencing-delay=15s" not in device
    assert "pcs_f resource meta webserver migration-threshold=10\n" in device and "priority=1" not in device
    changed = lambda a, b: [line for line in a.splitlines() if line not in b.splitlines()]  # noqa: E731
    assert changed(without, device) == [
        "# In a split both nodes want to fence: the one running webserver (priority 1) waits this long, so",
        "# the other is fenced first and the VIP stays where it was. Fencing a node lost for real is delayed",
        "# as much when it ran webserver.",
        "pcs_f property set priority-fencing-delay=15s",
        "pcs_f resource meta webserver migration-threshold=10 priority=1",
    ]
    assert changed(device, without) == [
        "# The quorum device settles a split: the partition the arbiter votes for keeps quorum and fences,",
        "# the other loses it, stops its resources and cannot fence. No race, so no delay.",
        "pcs_f property set priority-fencing-delay=0s",
        "pcs_f resource meta webserver migration-threshold=10",
    ]
    # fencing off: neither the delay nor the priority, with or without a device
    for cfg in (base_config("debian12"), with_device("debian12")):
        text = bundle_of(cfg).scripts["resources.sh"]
        assert "priority-fencing-delay" not in text and "priority=1" not in text


def test_the_quorum_device_script_names_the_address_algorithm_tie_breaker_and_the_vip_heuristic():
    s = parse_settings(with_device(algorithm="lms", tie_breaker="highest"))
    script = render_bundle(s).scripts["quorum-device.sh"]
    holds_vip = holds_vip_command(s)
    assert holds_vip == '/bin/sh -c "/usr/sbin/ip -o -4 addr show to 10.0.1.50/32 | /usr/bin/grep -q ."'
    (add,) = [line for line in script.splitlines() if line.startswith("pcs quorum device add ")]
    assert add.endswith(" model net host=10.0.1.20 algorithm=lms tie_breaker=highest \\")
    assert f"  heuristics mode=sync exec_holds_vip={shlex.quote(holds_vip)}\n" in script
    (wanted,) = [line for line in script.splitlines() if line.startswith("wanted=")]
    assert wanted.endswith(shlex.quote(holds_vip).removeprefix("'")) and "net 10.0.1.20 lms highest sync " in wanted
    assert "pcs host auth 10.0.1.20 -u hacluster" in script and "read -r password" in script
    default = bundle_of(with_device()).scripts["quorum-device.sh"]
    assert "host=10.0.1.20 algorithm=ffsplit tie_breaker=lowest" in default
    # without a device the step only removes one left out of the stack, and reads no password
    none = bundle_of(base_config("rhel9")).scripts["quorum-device.sh"]
    assert "pcs quorum device remove" in none and "pcs quorum device add" not in none and "read -r password" not in none


@pytest.mark.parametrize(
    "os_profile, device, scripts",
    [
        ("rhel9", None, {"quorum-device.sh"}),
        ("rhel9", {"create": True}, {"quorum-device.sh", "arbiter-prepare.sh"}),
        ("rhel9", {"create": False}, {"quorum-device.sh"}),
        ("rhel8", {"create": True}, {"quorum-device.sh", "arbiter-prepare.sh"}),
        ("debian12", {"create": True}, {"quorum-device.sh", "arbiter-prepare.sh"}),
        ("rhel6", None, set()),
    ],
)
def test_the_quorum_device_scripts_and_the_arbiter_user_data_per_stack(os_profile, device, scripts):
    cfg = base_config(os_profile, hacluster_password=SECRET)
    if device is not None:
        cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", **device}
    b = bundle_of(cfg)
    assert {"quorum-device.sh", "arbiter-prepare.sh"} & set(b.scripts) == scripts
    made = "arbiter-prepare.sh" in scripts
    assert (b.arbiter_user_data is not None) == made
    assert ("cloud-init/arbiter-user-data.yaml" in b.tree()) == made
    # node-prepare installs the client on a running stack that gains a device (no user-data change)
    install = {"rhel8": "dnf -y install corosync-qdevice", "rhel9": "dnf -y install corosync-qdevice",
               "debian12": "apt-get install -y corosync-qdevice"}.get(os_profile)  # fmt: skip
    prepare = b.scripts["node-prepare.sh"]
    assert (install is not None and install in prepare) == (device is not None)
    assert "corosync-qdevice" not in b.user_data


@pytest.mark.parametrize("os_profile", ["rhel9", "debian12"])
def test_the_arbiter_user_data_installs_qnetd_and_pcs_and_starts_pcsd(os_profile):
    b = bundle_of(with_device(os_profile))
    assert b.arbiter_user_data is not None and b.arbiter_user_data.startswith("#cloud-config\n# Managed by gir-lb")
    doc = yaml.safe_load(b.arbiter_user_data)
    assert doc == {"packages": ["pcs", "corosync-qnetd"], "runcmd": [["systemctl", "enable", "--now", "pcsd"]]}
    assert b.tree()["cloud-init/arbiter-user-data.yaml"] == b.arbiter_user_data
    assert b.user_data == bundle_of(base_config(os_profile, hacluster_password=SECRET)).user_data  # the nodes' is unchanged


def test_no_secret_in_any_script_or_user_data_with_a_quorum_device():
    for cfg in (with_device(), with_device(create=False), with_device("debian12")):
        b = bundle_of(cfg)
        assert SECRET not in "".join(b.tree().values()) + b.user_data + (b.arbiter_user_data or "")
        for name in ("quorum-device.sh", "arbiter-prepare.sh"):
            if name in b.scripts:
                assert " -p " not in b.scripts[name] and "--password" not in b.scripts[name]


def test_cli_writes_the_arbiter_user_data(tmp_path):
    text = (REPO / "stacks/Pulumi.dev.yaml").read_text()
    device = "    quorum_device: {address: 10.20.1.13, create: true}\n"
    text = text.replace("    name: gir-lb-dev\n", "    name: gir-lb-dev\n" + device, 1)
    run = render_cli(tmp_path, text)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "out"
    assert "corosync-qnetd" in (out / "cloud-init/arbiter-user-data.yaml").read_text()
    assert (out / "cluster/arbiter-prepare.sh").stat().st_mode & 0o111
    assert "host=10.20.1.13" in (out / "cluster/quorum-device.sh").read_text()


def test_cli_writes_the_folder_and_rejects_a_bad_stack(tmp_path):
    out = tmp_path / "dev"
    run = subprocess.run(
        [sys.executable, "-m", "blueprint", "render", "--stack", "dev", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert (out / "etc/httpd/conf.d/gir-lb/loadbalancer_t1.conf").is_file()
    assert (out / "cluster/resources.sh").stat().st_mode & 0o111
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text((REPO / "stacks/Pulumi.dev.yaml").read_text().replace("vip: 10.20.1.50", "vip: 10.99.1.50"))
    run = subprocess.run(
        [sys.executable, "-m", "blueprint", "render", "--file", str(bad), "--out", str(tmp_path / "bad")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "gir-lb:network.vip: 10.99.1.50 is outside subnet_cidr 10.20.1.0/24" in run.stderr
    assert not (tmp_path / "bad").exists()


def render_cli(tmp_path, stack_text: str) -> subprocess.CompletedProcess:
    f = tmp_path / "Pulumi.x.yaml"
    f.write_text(stack_text)
    cmd = [sys.executable, "-m", "blueprint", "render", "--file", str(f), "--out", str(tmp_path / "out")]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)


def test_cli_prints_the_warnings_as_the_preview_does(tmp_path):
    run = render_cli(tmp_path, (REPO / "stacks/Pulumi.test-example.yaml").read_text())
    assert run.returncode == 0, run.stderr
    assert run.stderr.splitlines() == [
        "warning: gir-lb:cluster.fencing.mode: STONITH is disabled; a split brain can put the VIP on both nodes"
    ]
    prod = render_cli(tmp_path, (REPO / "stacks/Pulumi.prod.yaml").read_text())
    assert prod.returncode == 0, prod.stderr  # renders for review; the program refuses to deploy it
    assert prod.stderr.splitlines() == [
        "warning: gir-lb:tls_cert: prod serves a generated self-signed certificate; set tls_cert and tls_key"
    ]
    assert render_cli(tmp_path, (REPO / "stacks/Pulumi.dev.yaml").read_text()).stderr == ""


def test_cli_refuses_what_prod_does_not_allow(tmp_path):
    text = (REPO / "stacks/Pulumi.prod.yaml").read_text().replace("admin_cidrs: [10.40.250.0/24]", "admin_cidrs: [0.0.0.0/0]")
    run = render_cli(tmp_path, text)
    assert run.returncode == 1 and not (tmp_path / "out").exists()
    assert run.stderr.splitlines()[1:] == [
        "  - gir-lb:network.admin_cidrs[0]: 0.0.0.0/0 opens SSH to the whole internet; list your own networks"
        " (not allowed in prod)"
    ]


def test_secure_values_in_a_stack_file_render_as_placeholders(tmp_path):
    text = (REPO / "stacks/Pulumi.dev.yaml").read_text()
    text += "  gir-lb:hacluster_password:\n    secure: v1:AAAABBBBCCCC\n"
    f = tmp_path / "Pulumi.sec.yaml"
    f.write_text(text)
    from blueprint.stack_config import load_stack

    s = load_stack(str(f))
    assert s.hacluster_password.get_secret_value() == "<secret>"


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ids=st.lists(st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True), min_size=1, max_size=4, unique=True),
    agents=st.integers(1, 50000),
    profile=st.sampled_from(["rhel6", "rhel8", "rhel9", "debian12"]),
)
def test_generated_settings_render_deterministically(ids, agents, profile):
    cfg = base_config(profile, httpd={"max_agents": agents}, tenants=[tenant(t, 9000) for t in ids])
    a, b = bundle_of(cfg).tree(), bundle_of(cfg).tree()
    assert a == b
    assert sum(1 for p in a if "/loadbalancer_" in p) == len(ids)


def _leaf_keys(model, prefix=""):
    """Every settings key path, lists written as `[]`; the five identical service timings as `<svc>`."""
    import typing

    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = next((a for a in (ann, *typing.get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        path = prefix + name
        if sub is None:
            yield path
        elif model.__name__ == "ServiceTimings":
            yield from _leaf_keys(sub, prefix + "<svc>.")
        else:
            yield from _leaf_keys(sub, path + ("[]." if typing.get_origin(ann) is list else "."))


def test_readme_documents_every_settings_key():
    from blueprint.settings import Settings

    readme = (REPO / "README.md").read_text()
    missing = []
    for key in set(_leaf_keys(Settings)):
        parent, _, leaf = key.rpartition(".")
        # a row may list siblings as `parent.a`, `.b`
        if f"`{key}`" not in readme and not (f"`{parent}." in readme and f"`.{leaf}`" in readme):
            missing.append(key)
    assert not missing, sorted(missing)


def test_node_prepare_raises_the_kernel_thread_limits_a_large_max_agents_needs_and_never_lowers_them(tmp_path):
    """20,000 agents: 500 children x 100 threads across a graceful reload, plus 8192 for the rest.
    The limits block runs for real against a stand-in `sysctl` (the node's kernel values in files):
    a lower limit is raised and persisted, a higher one is left alone, and a second run changes nothing."""
    script = bundle_of(base_config("rhel9", httpd={"max_agents": 20000})).scripts["node-prepare.sh"]
    block = script[script.index("limits=") : script.index("# Installs base64")]
    assert "58192" in block
    kernel = {"kernel.pid_max": "4194304", "kernel.threads-max": "31000"}
    for key, value in kernel.items():
        (tmp_path / key).write_text(value + "\n")
    stand_in = f"""
sysctl() {{
  case "$1" in
    -n) cat "{tmp_path}/$2" ;;
    -q) echo "$3" >> "{tmp_path}/writes"; echo "${{3#*=}}" > "{tmp_path}/${{3%%=*}}" ;;
  esac
}}
tmp="{tmp_path}/tmp"
"""
    runnable = stand_in + block.replace("/etc/sysctl.d/90-gir-lb-httpd-threads.conf", str(tmp_path / "limits.conf"))
    for _ in range(2):
        subprocess.run(["bash", "-euo", "pipefail", "-c", runnable], check=True)
    assert (tmp_path / "writes").read_text() == "kernel.threads-max=58192\n"  # once: the second run had nothing to raise
    assert (tmp_path / "limits.conf").read_text() == "kernel.threads-max = 58192\n"
    assert (tmp_path / "kernel.pid_max").read_text() == "4194304\n"
    small = bundle_of(base_config("rhel9")).scripts["node-prepare.sh"]  # 500 agents fit any kernel's defaults
    assert re.search(r"-lt (\d+) \]", small) and int(re.search(r"-lt (\d+) \]", small)[1]) < 32768
