"""Writes the bad-stack corpus once (the files are committed; run again only to add cases):
each file is stacks/Pulumi.dev.yaml (stacks/Pulumi.test-example.yaml for the address pool) with one
thing broken, and expected.yaml names, per file, the
key path (or file position) its first matching problem must start with; `absent:` a text no
problem may echo.

    python tests/data/bad-stacks/make.py
"""

# ruff: noqa: E501  (a table of cases, one per line)
from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEV = (HERE.parents[2] / "stacks" / "Pulumi.dev.yaml").read_text()
TEST = (HERE.parents[2] / "stacks" / "Pulumi.test-example.yaml").read_text()
OVERLAY = (HERE.parents[2] / "stacks" / "Pulumi.dev-multi-az.yaml").read_text()
CASES: dict[str, tuple[bytes, dict]] = {}


def case(name: str, data: str | bytes, key: str, **more) -> None:
    assert name not in CASES, name
    CASES[name] = (data.encode() if isinstance(data, str) else data, {"key": key, **more})


def edit(name: str, old: str, new: str, key: str, **more) -> None:
    """The dev stack with the first `old` replaced by `new`."""
    assert old in DEV, old
    case(name, DEV.replace(old, new, 1), key, **more)


def edit_test(name: str, old: str, new: str, key: str, **more) -> None:
    """The test-example stack (addresses from network.address_pool) with the first `old` replaced by `new`."""
    assert old in TEST, old
    case(name, TEST.replace(old, new, 1), key, **more)


def edit_overlay(name: str, old: str, new: str, key: str, **more) -> None:
    """The dev-multi-az stack (vip_mode overlay, a subnet per node) with the first `old` replaced by `new`."""
    assert old in OVERLAY, old
    case(name, OVERLAY.replace(old, new, 1), key, **more)


def add(name: str, lines: str, key: str, **more) -> None:
    """The dev stack with lines added at the end of config:."""
    case(name, DEV + lines, key, **more)


def member(tenant_line: str, url: str, key: str, name: str, **more) -> None:
    edit(name, tenant_line, tenant_line.replace(tenant_line.split('"')[1], url), key, **more)


T1_RWS1 = '{url: "http://t1-rws1.dev.gir.internal:8080", route: T1RWS1}'
T1_RP1 = '{url: "http://t1-rp1.dev.gir.internal:8889"}'
T1_RP2 = '{url: "http://t1-rp2.dev.gir.internal:8889"}'
RWS0 = "gir-lb:tenants[0].rws.members[0].url"

# --- reading the file ---------------------------------------------------------------------
edit("yaml-unclosed-flow-list", "vip: 10.20.1.50", "vip: [10.20.1.50", "line 11, column")
edit("yaml-tab-indent", "    vip: 10.20.1.50", "\tvip: 10.20.1.50", "line 10, column 1")
edit("yaml-bad-indent", "    subnet_id:", "     subnet_id:", "line 8, column")
edit("yaml-unclosed-quote", '"http://t1-rp1.dev.gir.internal:8889"}', '"http://t1-rp1.dev.gir.internal:8889}', "line 31, column")
edit("yaml-colon-in-plain-value", "gir-lb:environment: dev", "gir-lb:environment: dev: x", "line 4, column")
edit("yaml-unclosed-flow-mapping", "{name: lb-dev-a, ip: 10.20.1.11}", "{name: lb-dev-a, ip: 10.20.1.11", "line 18, column")
case("yaml-two-documents", DEV + "---\nconfig: {}\n", "line 63, column 1")
case("document-is-a-list", "- config:\n    gir-lb:environment: dev\n", "line 1")
case("document-is-a-string", "gir-lb:environment dev\n", "line 1")
case("config-is-a-list", "config:\n  - gir-lb:environment: dev\n", "config:")
case("config-is-a-string", "config: gir-lb\n", "config:")
case("empty-file", "", "gir-lb:environment")
case("keys-outside-config", DEV.replace("config:\n", "", 1).replace("\n  ", "\n"), "aws:region: not a stack file key")
case("config-key-twice", DEV + "config: {}\n", "config: duplicate key")
add("key-is-a-number", "  8080: x\n", "config: key 8080")
edit("key-is-a-bool", "    vip: 10.20.1.50", "    vip: 10.20.1.50\n    yes: x", "gir-lb:network: key True")
edit("key-is-null", "    max_agents: 200", "    max_agents: 200\n    ~: x", "gir-lb:httpd: key None")
edit("key-is-a-list", "    max_agents: 200", "    max_agents: 200\n    ? [a, b]\n    : x", "gir-lb:httpd: key […]")
edit("key-is-a-float", "    name: gir-lb-dev", "    name: gir-lb-dev\n    1.5: x", "gir-lb:cluster: key 1.5")
case("not-utf8-latin1", DEV.replace("RCS 1", "RCS é").encode("latin-1"), "byte offset ")
case("not-utf8-ff-byte", DEV.encode().replace(b"t3.medium", b"t3.\xffmedium"), "byte offset ")
case("utf16", DEV.encode("utf-16"), "byte offset 0")
case("nul-byte", DEV.replace("gir-lb-dev", "gir-lb\0dev"), "line 15, column")
case("control-char", DEV.replace("T1RWS2", "T1RWS\x072"), "line 27, column")
edit("tag-python-object", "gir-lb:environment: dev", "gir-lb:environment: !!python/object/apply:os.system ['id']", "line 4, column")
edit("tag-python-name", "max_agents: 200", "max_agents: !!python/name:os.system", "line 21, column")
edit("tag-binary", "gir-lb:environment: dev", "gir-lb:environment: !!binary ZGV2", "line 4, column")
edit("tag-set", "    client_cidrs: [10.20.0.0/16]", "    client_cidrs: !!set {10.20.0.0/16}", "line 11, column")
edit("tag-custom", "vip: 10.20.1.50", "vip: !Ref Vip", "line 10, column")
case(
    "alias-bomb",
    'config:\n  aws:a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(f"  aws:{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
    "line 2, column",
)
edit("anchor-reused-members", "      rp:\n        members:\n", "      rp:\n        members: &rp\n", "line 29, column")
edit("merge-key-inline", "    region: eu-west-1\n", "    <<: {region: eu-west-1}\n", "gir-lb:network: merge keys")
case("nested-too-deep-flow", DEV.replace("vip: 10.20.1.50", "vip: " + "[" * 40 + "]" * 40), "line 10, column")
case(
    "nested-too-deep-block",
    DEV + "  aws:deep:\n" + "".join(f"{'  ' * (i + 2)}- \n" for i in range(40)),
    "line 94, column",
)
add("duplicate-top-key", "  gir-lb:environment: prod\n", "gir-lb:environment: duplicate key")
edit("duplicate-nested-key", "    vip: 10.20.1.50", "    vip: 10.20.1.50\n    vip: 10.20.1.51", "gir-lb:network.vip: duplicate key")
edit("duplicate-member-key", T1_RWS1, T1_RWS1.replace("route: T1RWS1", "route: T1RWS1, route: T1RWSX"),
     "gir-lb:tenants[0].rws.members[0].route: duplicate key")
edit("duplicate-tenant-key", "    - id: t2", "    - id: t2\n      id: t3", "gir-lb:tenants[1].id: duplicate key")
edit("number-too-long", "max_agents: 200", "max_agents: " + "9" * 5000, "gir-lb:httpd.max_agents")
edit("number-malformed", "max_agents: 200", "max_agents: 0x_", "gir-lb:httpd.max_agents")

# --- the keys -----------------------------------------------------------------------------
add("unknown-key-typo", "  gir-lb:netwrok: {}\n", "gir-lb:netwrok: unknown key")
add("unknown-key-singular", "  gir-lb:tenant: []\n", "gir-lb:tenant: unknown key")
add("unknown-key-empty", "  'gir-lb:': x\n", "gir-lb:: unknown key")
add("dotted-key", "  gir-lb:network.vip: 10.20.1.51\n", "gir-lb:network.vip: a nested key")
add("dotted-index-key", "  gir-lb:tenants[0].id: t9\n", "gir-lb:tenants[0].id: a nested key")
add("dotted-deep-key", "  gir-lb:httpd.tls.enabled: false\n", "gir-lb:httpd.tls.enabled: a nested key")
add("namespace-typo", "  gir_lb:environment: prod\n", "gir_lb:environment: namespace")
add("namespace-missing", "  environment: prod\n", "environment: a config key needs its namespace")
add("plaintext-tls-key", "  gir-lb:tls_key: '-----BEGIN PRIVATE KEY-----HUNTER2'\n", "gir-lb:tls_key: must be set with", absent="HUNTER2")
add("plaintext-hacluster-password", "  gir-lb:hacluster_password: HUNTER2\n", "gir-lb:hacluster_password: must be set with",
    absent="HUNTER2")
add("plaintext-ssh-key", "  gir-lb:ssh_private_key: HUNTER2\n", "gir-lb:ssh_private_key: must be set with", absent="HUNTER2")
edit("secret-environment", "gir-lb:environment: dev", "gir-lb:environment: {secure: v1:AAAABBBB}", "gir-lb:environment: is a secret")
edit("secret-nested-vip", "vip: 10.20.1.50", "vip: {secure: v1:AAAABBBB}", "gir-lb:network: is a secret")
edit("secret-tls-cert", "gir-lb:os_profile: rhel9", "gir-lb:os_profile: rhel9\n  gir-lb:tls_cert: {secure: v1:AAAA}",
     "gir-lb:tls_cert: is a secret")
edit("section-not-a-mapping", "  gir-lb:httpd:\n    tls: {enabled: true}\n    max_agents: 200\n", "  gir-lb:httpd: 200\n",
     "gir-lb:httpd")
edit("section-null", "  gir-lb:httpd:\n    tls: {enabled: true}\n    max_agents: 200\n", "  gir-lb:httpd:\n", "gir-lb:httpd")
edit("tenants-a-mapping", "  gir-lb:tenants:\n", "  gir-lb:tenants: {t1: {}}\n  aws:rest:\n", "gir-lb:tenants")

# --- the settings -------------------------------------------------------------------------
edit("environment-uppercase", "gir-lb:environment: dev", "gir-lb:environment: Dev", "gir-lb:environment")
edit("environment-missing", "  gir-lb:environment: dev\n", "", "gir-lb:environment")
edit("os-profile-unknown", "gir-lb:os_profile: rhel9", "gir-lb:os_profile: rhel7", "gir-lb:os_profile")
edit("os-profile-debian-on-aws", "gir-lb:os_profile: rhel9", "gir-lb:os_profile: debian12", "gir-lb:os_profile")
edit("protect-not-bool", "gir-lb:os_profile: rhel9", "gir-lb:os_profile: rhel9\n  gir-lb:protect: maybe", "gir-lb:protect")
edit("region-uppercase", "    region: eu-west-1", "    region: EU-west-1", "gir-lb:network.region")
edit("subnet-id-bad", "subnet_id: subnet-0a1b2c3d4e5f60718", "subnet_id: subnet-xyz", "gir-lb:network.subnet_id")
edit("subnet-cidr-prefix-33", "subnet_cidr: 10.20.1.0/24", "subnet_cidr: 10.20.1.0/33", "gir-lb:network.subnet_cidr")
edit("subnet-cidr-host-bits", "subnet_cidr: 10.20.1.0/24", "subnet_cidr: 10.20.1.5/24", "gir-lb:network.subnet_cidr")
edit("subnet-cidr-ipv6", "subnet_cidr: 10.20.1.0/24", "subnet_cidr: 'fd00::/64'", "gir-lb:network.subnet_cidr")
edit("subnet-cidr-everything", "subnet_cidr: 10.20.1.0/24", "subnet_cidr: 0.0.0.0/0", "gir-lb:network.subnet_cidr")
edit("vip-not-an-address", "vip: 10.20.1.50", "vip: 10.20.1.500", "gir-lb:network.vip")
edit("vip-leading-zeros", "vip: 10.20.1.50", "vip: 010.20.1.050", "gir-lb:network.vip")
edit("vip-outside-subnet", "vip: 10.20.1.50", "vip: 10.20.9.50", "gir-lb:network.vip")
edit("vip-network-address", "vip: 10.20.1.50", "vip: 10.20.1.0", "gir-lb:network.vip")
edit("vip-broadcast", "vip: 10.20.1.50", "vip: 10.20.1.255", "gir-lb:network.vip")
edit("vip-aws-reserved", "vip: 10.20.1.50", "vip: 10.20.1.2", "gir-lb:network.vip")
edit("vip-is-a-node", "vip: 10.20.1.50", "vip: 10.20.1.11", "gir-lb:cluster.nodes[0].ip")
edit("address-pool-in-dev", "vip: 10.20.1.50", "vip: 10.20.1.50\n    address_pool: 10.20.1.128/26", "gir-lb:network.address_pool")
edit_test("address-pool-outside-subnet", "address_pool: 10.20.1.128/26", "address_pool: 10.20.9.0/26", "gir-lb:network.address_pool")
edit_test("address-pool-too-small", "address_pool: 10.20.1.128/26", "address_pool: 10.20.1.128/31", "gir-lb:network.address_pool")
edit_test("address-pool-with-vip", "address_pool: 10.20.1.128/26", "address_pool: 10.20.1.128/26\n    vip: 10.20.1.150",
          "gir-lb:network.vip")
edit_test("address-pool-with-node-ip", "{name: lb-test-a}", "{name: lb-test-a, ip: 10.20.1.111}", "gir-lb:cluster.nodes[0].ip")
edit("vip-mode-unknown", "vip: 10.20.1.50", "vip: 10.20.1.50\n    vip_mode: gcp", "gir-lb:network.vip_mode")
edit("vip-mode-l2-on-aws", "vip: 10.20.1.50", "vip: 10.20.1.50\n    vip_mode: l2", "gir-lb:network.vip_mode")
case("vip-mode-l2-on-aws-unfenced",
     DEV.replace("vip: 10.20.1.50", "vip: 10.20.1.50\n    vip_mode: l2").replace("    name: gir-lb-dev",
                                                                              "    name: gir-lb-dev\n    fencing: {mode: disabled}"),
     "gir-lb:network.vip_mode")
edit("client-cidrs-empty", "client_cidrs: [10.20.0.0/16]", "client_cidrs: []", "gir-lb:network.client_cidrs")
edit("client-cidrs-a-string", "client_cidrs: [10.20.0.0/16]", "client_cidrs: 10.20.0.0/16", "gir-lb:network.client_cidrs")
edit("client-cidrs-injection", "client_cidrs: [10.20.0.0/16]", "client_cidrs: ['10.20.0.0/16; rm -rf /']",
     "gir-lb:network.client_cidrs[0]")
edit("client-cidrs-duplicate", "client_cidrs: [10.20.0.0/16]", "client_cidrs: [10.20.0.0/16, 10.20.0.0/16]",
     "gir-lb:network.client_cidrs")
edit("admin-cidrs-missing", "    admin_cidrs: [10.20.250.0/24]\n", "", "gir-lb:network.admin_cidrs")
edit("admin-cidrs-duplicate", "admin_cidrs: [10.20.250.0/24]", "admin_cidrs: [10.20.250.0/24, 10.20.250.0/24]",
     "gir-lb:network.admin_cidrs")
edit("instance-type-space", "instance_type: t3.medium", "instance_type: t3 medium", "gir-lb:network.instance_type")
edit("network-unknown-field", "vip: 10.20.1.50", "vip: 10.20.1.50\n    vpc: vpc-1", "gir-lb:network.vpc")
edit("cluster-name-too-long", "name: gir-lb-dev", "name: gir-lb-dev-cluster-1", "gir-lb:cluster.name")
edit("cluster-one-node", "      - {name: lb-dev-b, ip: 10.20.1.12}\n", "", "gir-lb:cluster.nodes")
edit("cluster-three-nodes", "      - {name: lb-dev-b, ip: 10.20.1.12}\n",
     "      - {name: lb-dev-b, ip: 10.20.1.12}\n      - {name: lb-dev-c, ip: 10.20.1.13}\n", "gir-lb:cluster.nodes")
edit("node-name-duplicate", "name: lb-dev-b", "name: lb-dev-a", "gir-lb:cluster.nodes[1].name")
edit("node-ip-duplicate", "ip: 10.20.1.12", "ip: 10.20.1.11", "gir-lb:cluster.nodes[1].ip")
edit("node-name-underscore", "name: lb-dev-a", "name: lb_dev_a", "gir-lb:cluster.nodes[0].name")
edit("node-ip-outside-subnet", "ip: 10.20.1.11", "ip: 10.20.2.11", "gir-lb:cluster.nodes[0].ip")
edit("node-ip-missing", "{name: lb-dev-a, ip: 10.20.1.11}", "{name: lb-dev-a}", "gir-lb:cluster.nodes[0].ip")
edit("node-ip-network-address", "ip: 10.20.1.11", "ip: 10.20.1.0", "gir-lb:cluster.nodes[0].ip")
edit("node-ip-broadcast", "ip: 10.20.1.11", "ip: 10.20.1.255", "gir-lb:cluster.nodes[0].ip")
edit("node-ip-aws-reserved", "ip: 10.20.1.11", "ip: 10.20.1.1", "gir-lb:cluster.nodes[0].ip")
edit("transport-udpu-on-rhel9", "name: gir-lb-dev", "name: gir-lb-dev\n    transport: udpu", "gir-lb:cluster.transport")
edit("token-too-short", "name: gir-lb-dev", "name: gir-lb-dev\n    token_ms: 100", "gir-lb:cluster.token_ms")
edit("knet-interval-not-below-timeout", "name: gir-lb-dev", "name: gir-lb-dev\n    knet_ping_interval_ms: 800",
     "gir-lb:cluster.knet_ping_interval_ms")
edit("fencing-mode-unknown", "name: gir-lb-dev", "name: gir-lb-dev\n    fencing: {mode: stonith}", "gir-lb:cluster.fencing.mode")
edit("fencing-delay-too-long", "name: gir-lb-dev", "name: gir-lb-dev\n    fencing: {delay_s: 1000}", "gir-lb:cluster.fencing.delay_s")
QD = "name: gir-lb-dev\n    quorum_device: "
QD_KEY = "gir-lb:cluster.quorum_device"
edit("quorum-device-is-a-node", "name: gir-lb-dev", QD + "{address: 10.20.1.11, create: true}", f"{QD_KEY}.address")
edit("quorum-device-is-the-vip", "name: gir-lb-dev", QD + "{address: 10.20.1.50, create: true}", f"{QD_KEY}.address")
edit("quorum-device-outside-subnet", "name: gir-lb-dev", QD + "{address: 10.20.9.13, create: true}", f"{QD_KEY}.address")
edit("quorum-device-aws-reserved", "name: gir-lb-dev", QD + "{address: 10.20.1.2, create: true}", f"{QD_KEY}.address")
edit("quorum-device-subnet-without-cidr", "name: gir-lb-dev", QD + "{address: 10.20.2.13, create: true, subnet_id: subnet-0a1b2c3d4e5f60719}",
     f"{QD_KEY}.subnet_cidr")
edit("quorum-device-existing-without-password", "name: gir-lb-dev", QD + "{address: 10.20.9.13, create: false}", "gir-lb:hacluster_password")
edit("quorum-device-with-fencing-delay", "name: gir-lb-dev", QD + "{address: 10.20.1.13, create: true}\n    fencing: {delay_s: 5}",
     "gir-lb:cluster.fencing.delay_s")
edit("quorum-device-algorithm-unknown", "name: gir-lb-dev", QD + "{address: 10.20.1.13, create: true, algorithm: 2nodelms}", f"{QD_KEY}.algorithm")
NET = "gir-lb:network"
edit_overlay("overlay-vip-inside-vpc", "vip: 192.168.20.50", "vip: 10.20.3.50", f"{NET}.vip")
edit_overlay("overlay-vip-link-local", "vip: 192.168.20.50", "vip: 169.254.20.50", f"{NET}.vip")
edit_overlay("overlay-route-tables-empty", "route_table_ids: [rtb-0a1b2c3d4e5f60718, rtb-0a1b2c3d4e5f60729]", "route_table_ids: []",
             f"{NET}.route_table_ids")
edit_overlay("overlay-route-table-bad-id", "rtb-0a1b2c3d4e5f60718,", "'rtb-1; id',", f"{NET}.route_table_ids[0]")
edit_overlay("overlay-without-second-subnet", "    second_subnet: {id: subnet-0a1b2c3d4e5f60729, cidr: 10.20.2.0/24}\n", "",
             f"{NET}.second_subnet")
edit_overlay("overlay-second-subnet-is-the-first", "{id: subnet-0a1b2c3d4e5f60729,", "{id: subnet-0a1b2c3d4e5f60718,",
             f"{NET}.second_subnet")
edit_overlay("overlay-vpc-not-holding-subnets", "vpc_cidr: 10.20.0.0/16", "vpc_cidr: 10.20.0.0/23", f"{NET}.vpc_cidr")
edit_overlay("overlay-node-b-in-first-subnet", "ip: 10.20.2.12", "ip: 10.20.1.12", "gir-lb:cluster.nodes[1].ip")
edit("route-tables-without-overlay", "vip: 10.20.1.50", "vip: 10.20.1.50\n    route_table_ids: [rtb-0a1b2c3d4e5f60718]",
     f"{NET}.route_table_ids")
edit("httpd-port-ssh", "max_agents: 200", "max_agents: 200\n    port: 22", "gir-lb:httpd.port")
edit("httpd-port-zero", "max_agents: 200", "max_agents: 200\n    port: 0", "gir-lb:httpd.port")
edit("httpd-port-too-big", "max_agents: 200", "max_agents: 200\n    port: 70000", "gir-lb:httpd.port")
edit("httpd-port-float", "max_agents: 200", "max_agents: 200\n    port: 80.0", "gir-lb:httpd.port")
edit("httpd-port-yes", "max_agents: 200", "max_agents: 200\n    port: yes", "gir-lb:httpd.port")
edit("httpd-port-text", "max_agents: 200", "max_agents: 200\n    port: eighty", "gir-lb:httpd.port")
edit("tls-port-equals-port", "tls: {enabled: true}", "tls: {enabled: true, port: 80}", "gir-lb:httpd.tls.port")
edit("tls-port-pcsd", "tls: {enabled: true}", "tls: {enabled: true, port: 2224}", "gir-lb:httpd.tls.port")
edit("max-agents-zero", "max_agents: 200", "max_agents: 0", "gir-lb:httpd.max_agents")
edit("max-agents-huge", "max_agents: 200", "max_agents: 1000000000", "gir-lb:httpd.max_agents")
edit("headroom-too-big", "max_agents: 200", "max_agents: 200\n    headroom_percent: 1000", "gir-lb:httpd.headroom_percent")
edit("service-timeout-zero", "max_agents: 200", "max_agents: 200\n    services: {rws: {connect_timeout_ms: 3000, timeout_s: 0, retry_s: 30}}",
     "gir-lb:httpd.services.rws.timeout_s")
edit("service-unknown", "max_agents: 200", "max_agents: 200\n    services: {rwss: {connect_timeout_ms: 3000, timeout_s: 1, retry_s: 30}}",
     "gir-lb:httpd.services.rwss")
edit("member-ca-not-pem", "max_agents: 200", "max_agents: 200\n    member_ca_cert: not a certificate", "gir-lb:httpd.member_ca_cert")
edit("tls-cert-not-x509", "gir-lb:os_profile: rhel9",
     "gir-lb:os_profile: rhel9\n  gir-lb:tls_cert: |\n    -----BEGIN CERTIFICATE-----\n    AAAA\n    -----END CERTIFICATE-----",
     "gir-lb:tls_cert")
edit("tls-cert-is-a-private-key", "gir-lb:os_profile: rhel9",
     "gir-lb:os_profile: rhel9\n  gir-lb:tls_key: {secure: v1:AAAA}\n  gir-lb:tls_cert: |\n    -----BEGIN PRIVATE KEY-----\n"
     "    HUNTER2\n    -----END PRIVATE KEY-----", "gir-lb:tls_cert", absent="HUNTER2")
edit("tls-key-without-cert", "gir-lb:os_profile: rhel9", "gir-lb:os_profile: rhel9\n  gir-lb:tls_key: {secure: v1:AAAA}", "gir-lb:tls_key")
add("ssh-user-injection", "  gir-lb:ssh: {user: 'root; id'}\n", "gir-lb:ssh.user")
add("ssh-bastion-space", "  gir-lb:ssh: {bastion_host: 'bastion host'}\n", "gir-lb:ssh.bastion_host")
add("ami-id-bad", "  gir-lb:ami: {id: ami-XYZ}\n", "gir-lb:ami.id")
add("ami-owner-bad", "  gir-lb:ami: {owner: '12345'}\n", "gir-lb:ami.owner")
edit("tenants-empty", "  gir-lb:tenants:\n", "  gir-lb:tenants: []\n  aws:unused:\n", "gir-lb:tenants")
edit("tenant-id-uppercase", "- id: t1", "- id: T1", "gir-lb:tenants[0].id")
edit("tenant-id-slash", "- id: t1", "- id: t1/x", "gir-lb:tenants[0].id")
edit("tenant-id-duplicate", "- id: t2", "- id: t1", "gir-lb:tenants[1].id")
edit("tenant-is-a-string", "    - id: t1\n", "    - t1\n    - id: t1\n", "gir-lb:tenants[0]")
edit("tenant-missing-service", "      rp:\n        members:\n          - " + T1_RP1 + "\n          - " + T1_RP2 + "\n", "",
     "gir-lb:tenants[0].rp")
edit("service-no-members", "      rp:\n        members:\n          - " + T1_RP1 + "\n          - " + T1_RP2 + "\n",
     "      rp:\n        members: []\n", "gir-lb:tenants[0].rp.members")
edit("route-missing", T1_RWS1, T1_RWS1.replace(", route: T1RWS1", ""), "gir-lb:tenants[0].rws.members[0].route")
edit("route-duplicate", "route: T1RWS2", "route: T1RWS1", "gir-lb:tenants[0].rws.members[1].route")
edit("route-with-dot", "route: T1RWS1", "route: T1.RWS1", "gir-lb:tenants[0].rws.members[0].route")
edit("rcs-app-names-same-route", 'app_name: "RCS 2"', 'app_name: "RCS_1"', "gir-lb:tenants[0].rcs.members[1].route")
edit("rcs-app-name-quote", 'app_name: "RCS 1"', "app_name: 'RCS \"1'", "gir-lb:tenants[0].rcs.members[0].app_name")
edit("webdav-all-hot-standby", '{url: "http://t1-webdav1.dev.gir.internal:80"}',
     '{url: "http://t1-webdav1.dev.gir.internal:80", hot_standby: true}', "gir-lb:tenants[0].webdav.members")
edit("webdav-hot-standby-maybe", "hot_standby: true}", "hot_standby: maybe}", "gir-lb:tenants[0].webdav.members[1].hot_standby")
edit("extra-path-reserved", "extra_paths: [dest2]", "extra_paths: [rp]", "gir-lb:tenants[0].webdav.extra_paths[0]")
edit("extra-path-duplicate", "extra_paths: [dest2]", "extra_paths: [dest2, dest2]", "gir-lb:tenants[0].webdav.extra_paths")
edit("extra-path-traversal", "extra_paths: [dest2]", "extra_paths: ['../x']", "gir-lb:tenants[0].webdav.extra_paths[0]")
edit("member-unknown-field", T1_RP1, T1_RP1.replace("}", ", weight: 2}"), "gir-lb:tenants[0].rp.members[0].weight")
edit("member-url-a-number", T1_RP1, "{url: 8889}", "gir-lb:tenants[0].rp.members[0].url")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:8080/rws", RWS0, "member-url-path")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal", RWS0, "member-url-no-port")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:0", RWS0, "member-url-port-zero")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:99999", RWS0, "member-url-port-too-big")
member(T1_RWS1, "ftp://t1-rws1.dev.gir.internal:8080", RWS0, "member-url-ftp")
member(T1_RWS1, 'http://t1-rws1\\".dev.gir.internal:8080', RWS0, "member-url-quote")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:8080\\nProxyPass / http://evil:80", RWS0, "member-url-newline")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:8080</Proxy>", RWS0, "member-url-close-proxy")
member(T1_RWS1, "http://$(reboot):8080", RWS0, "member-url-shell")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:8080?a=b", RWS0, "member-url-query")
member(T1_RWS1, "http://t1-rws1.dev.gir.internal:8080#x", RWS0, "member-url-fragment")
member(T1_RWS1, "http://t1_rws1.dev.gir.internal:8080", RWS0, "member-url-underscore-host")
member(T1_RWS1, "http://[fd00::1]:8080", RWS0, "member-url-ipv6")
member(T1_RWS1, "http://admin@t1-rws1.dev.gir.internal:8080", RWS0, "member-url-user")
member(T1_RWS1, "http://admin:HUNTER2@t1-rws1.dev.gir.internal:8080", RWS0, "member-url-password", absent="HUNTER2")
member(T1_RWS1, "http://10.20.1.50:8080", RWS0, "member-is-the-vip")
member(T1_RWS1, "http://10.20.1.11:8080", RWS0, "member-is-a-node")
member(T1_RWS1, "http://167772161:8080", RWS0, "member-host-decimal-ipv4")
member(T1_RWS1, "http://0x0a000001:8080", RWS0, "member-host-hex-ipv4")
member(T1_RWS1, "http://012.0.0.1:8080", RWS0, "member-host-octal-ipv4")
member(T1_RWS1, "http://10.1:8080", RWS0, "member-host-short-ipv4")
edit("member-url-duplicate", T1_RP2, T1_RP1, "gir-lb:tenants[0].rp.members[1].url")

if __name__ == "__main__":
    for old in HERE.glob("*.yaml"):
        old.unlink()
    for name, (data, _) in CASES.items():
        (HERE / f"{name}.yaml").write_bytes(data)
    expected = {f"{name}.yaml": want for name, (_, want) in CASES.items()}
    header = "# Written by make.py: per bad stack file, the start of the problem its error must have.\n"
    (HERE / "expected.yaml").write_text(header + yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=200))
    print(f"{len(CASES)} files")
