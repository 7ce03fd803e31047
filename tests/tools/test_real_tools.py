"""Each rendered file checked by the real program that will read it."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from blueprint.drift import probe_script
from blueprint.plan import comment_out_listen
from blueprint.render import render_bundle
from blueprint.stack_config import parse_settings
from tests import real_programs
from tests.conftest import (
    STACK_NAMES,
    TENANT_IDS,
    WEBDAV_EXTRA_PATHS,
    base_config,
    stack_config,
    tenant,
    write_tree,
)

FAKE_IDS = ("i-0123456789abcdef0", "i-0fedcba9876543210")


def rendered(tmp_path: Path, cfg: dict) -> Path:
    """The rendered tree plus what the node's stock main config (not rendered) adds about Listen,
    so `apache2 -t` sees every Listen line the node's httpd would: RHEL's httpd.conf has `Listen 80`
    (commented out by the push), Debian's apache2.conf includes ports.conf (the bundle's)."""
    s = parse_settings(cfg)
    tree = write_tree(s, tmp_path / "tree")
    p = s.profile
    stock = tree / p.server_root.lstrip("/") / p.conf_dir / "000-stock-main-config.conf"
    if p.main_config_has_listen:  # as the push leaves it: its own command comments the Listen out
        stock.write_text("Listen 80\n")
        subprocess.run(["bash", "-c", comment_out_listen(s, str(stock))], check=True)
    else:
        stock.write_text(f"Include {p.listen_conf}\n")
    return tree


# ---- apache2 -t -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STACK_NAMES)
def test_apache_accepts_every_stack(tmp_path, name):
    cfg = stack_config(name)
    tree = rendered(tmp_path, cfg)
    done = real_programs.apache_configtest(tree, tmp_path)
    assert done.returncode == 0 and "Syntax OK" in done.stderr, done.stderr


@pytest.mark.parametrize("profile", ["rhel8", "debian12"])
def test_apache_accepts_each_24_profile_with_tls_and_https_members(tmp_path, profile):
    crt, _ = real_programs.test_certificate(str(tmp_path))
    cfg = base_config(profile, httpd={"tls": {"enabled": True}, "member_ca_cert": crt})
    cfg["tenants"].append(tenant("t3", 9300, scheme="https"))
    done = real_programs.apache_configtest(rendered(tmp_path, cfg), tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("profile", ["rhel8", "rhel9", "debian12"])
@pytest.mark.parametrize("port, tls_port", [(80, 443), (8080, 8443), (443, 8443), (8080, 80)])
def test_apache_accepts_the_listen_lines_for_any_ports(tmp_path, profile, port, tls_port):
    """Default or not, each port is listened on once: a second Listen for one port is a syntax error."""
    tree = rendered(tmp_path, base_config(profile, httpd={"port": port, "tls": {"enabled": True, "port": tls_port}}))
    done = real_programs.apache_configtest(tree, tmp_path)
    assert done.returncode == 0 and "Syntax OK" in done.stderr, done.stderr


def test_apache_refuses_a_port_listened_on_twice(tmp_path):
    """The check above can fail: RHEL's stock `Listen 80` left in httpd.conf next to the rendered one."""
    tree = rendered(tmp_path, base_config("rhel9"))
    stock = tree / "etc/httpd/conf.d/000-stock-main-config.conf"
    assert stock.read_text().startswith("# gir-lb: Listen lines live in conf.d/gir-lb-listen.conf: Listen 80")
    stock.write_text("Listen 80\n")  # as if the push had not commented it out
    done = real_programs.apache_configtest(tree, tmp_path)
    assert done.returncode != 0 and "Cannot define multiple Listeners on the same IP:port" in done.stderr, done.stderr


@pytest.mark.parametrize(
    "breakage",
    [
        ("</Proxy>", "</Proxv>"),  # the guide's typo
        ("stickysession=ROUTEID", "stickysession=ROUTEID bogus=1"),
        ("Require ip 127.0.0.1", "Require ipp 127.0.0.1"),
    ],
)
def test_apache_check_fails_on_a_broken_file(tmp_path, breakage):
    """The harness can fail: a broken rendered file is refused."""
    tree = rendered(tmp_path, base_config())
    for f in (tree / "etc/httpd").rglob("*.conf"):
        f.write_text(f.read_text().replace(*breakage, 1))
    done = real_programs.apache_configtest(tree, tmp_path)
    assert done.returncode != 0 and "Syntax error" in done.stderr, done.stderr


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    ids=TENANT_IDS,
    extra=WEBDAV_EXTRA_PATHS,
    agents=st.integers(1, 20000),
    tls=st.booleans(),
    https=st.booleans(),
    profile=st.sampled_from(["rhel8", "rhel9", "debian12"]),
)
def test_apache_accepts_generated_settings(tmp_path_factory, ids, extra, agents, tls, https, profile):
    tmp = tmp_path_factory.mktemp("gen")
    crt, _ = real_programs.test_certificate(str(tmp))
    tenants = [tenant(t, 9000 + 100 * i, scheme="https" if https and i == 0 else "http") for i, t in enumerate(ids)]
    for t in tenants:
        t["webdav"]["extra_paths"] = extra
    cfg = base_config(profile, httpd={"tls": {"enabled": tls}, "max_agents": agents, "member_ca_cert": crt}, tenants=tenants)
    done = real_programs.apache_configtest(rendered(tmp, cfg), tmp)
    assert done.returncode == 0, done.stderr


# ---- cloud-init schema ---------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["rhel6", "rhel8", "rhel9", "debian12"])
def test_user_data_is_valid_cloud_config(tmp_path, profile):
    tree = rendered(tmp_path, base_config(profile))
    done = real_programs.cloud_init_schema(tree / "cloud-init/user-data.yaml")
    assert done.returncode == 0 and "Valid cloud-config" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("name", STACK_NAMES)
def test_stack_user_data_is_valid_cloud_config(tmp_path, name):
    tree = rendered(tmp_path, stack_config(name))
    done = real_programs.cloud_init_schema(tree / "cloud-init/user-data.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("profile", ["rhel9", "debian12"])
def test_the_arbiter_user_data_is_valid_cloud_config(tmp_path, profile):
    cfg = base_config(profile)
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    tree = rendered(tmp_path, cfg)
    done = real_programs.cloud_init_schema(tree / "cloud-init/arbiter-user-data.yaml")
    assert done.returncode == 0 and "Valid cloud-config" in done.stdout, done.stdout + done.stderr


def test_cloud_init_schema_check_can_fail(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("#cloud-config\npackages: 5\nruncmd: {a: b}\n")
    assert real_programs.cloud_init_schema(bad).returncode != 0


# ---- shellcheck --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["rhel6", "rhel8", "rhel9", "debian12"])
def test_scripts_pass_shellcheck(tmp_path, profile):
    tree = rendered(tmp_path, base_config(profile))
    scripts = sorted((tree / "cluster").glob("*.sh"))
    # cluster-check; corosync 3 also cluster-join and quorum-device; vip_mode aws also the gir-lb:awsvip agent
    assert len(scripts) == {"rhel6": 5, "rhel8": 10, "rhel9": 10, "debian12": 9}[profile]
    done = real_programs.shellcheck(*scripts)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("profile", ["rhel8", "rhel9", "debian12"])
def test_scripts_with_a_quorum_device_pass_shellcheck(tmp_path, profile):
    """arbiter-prepare, quorum-device with a device, node-prepare installing its client."""
    cfg = base_config(profile)
    cfg["cluster"]["quorum_device"] = {"address": "10.0.1.20", "create": True}
    tree = rendered(tmp_path, cfg)
    scripts = sorted((tree / "cluster").glob("*.sh"))
    assert {"arbiter-prepare.sh", "quorum-device.sh", "node-prepare.sh"} <= {s.name for s in scripts}
    done = real_programs.shellcheck(*scripts)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("profile", ["rhel6", "rhel9", "debian12"])
def test_the_drift_probe_passes_shellcheck(tmp_path, profile):
    s = parse_settings(base_config(profile))
    probe = tmp_path / "drift-probe.sh"
    probe.write_text(probe_script(s, render_bundle(s)))
    done = real_programs.shellcheck(probe)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("name", STACK_NAMES)
def test_stack_scripts_pass_shellcheck(tmp_path, name):
    tree = rendered(tmp_path, stack_config(name))
    done = real_programs.shellcheck(*sorted((tree / "cluster").glob("*.sh")))
    assert done.returncode == 0, done.stdout


def test_shellcheck_can_fail(tmp_path):
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/bash\nrm -rf $1/*\n")
    assert real_programs.shellcheck(bad).returncode != 0


# ---- pcs -f + crm_verify + crm_simulate -------------------------------------------------------------


def configuration(cib: Path) -> bytes:
    return ET.tostring(ET.parse(cib).getroot().find("configuration"))


CLUSTER_CASES = {
    **{f"stack-{n}": stack_config(n) for n in STACK_NAMES},
    "l2-no-stonith-debian12": base_config("debian12"),
    # pcs 0.9 syntax (RHEL 6), checked with Debian's pcs 0.11, which still accepts it
    "l2-no-stonith-rhel6": base_config("rhel6"),
}


@pytest.mark.parametrize("cfg", CLUSTER_CASES.values(), ids=CLUSTER_CASES.keys())
def test_cluster_resources_verify_and_fail_over(tmp_path, cfg):
    args = FAKE_IDS if cfg["cluster"].get("fencing", {}).get("mode", "fence_aws") == "fence_aws" else ()
    tree = rendered(tmp_path, cfg)
    cib = tmp_path / "cib.xml"
    built = real_programs.pcs_build(tree / "cluster/resources.sh", cib, *args)
    assert built.returncode == 0, built.stderr
    verified = real_programs.crm_verify(cib)
    assert verified.returncode == 0, verified.stderr

    nodes = [n["name"] for n in cfg["cluster"]["nodes"]]
    up = real_programs.crm_simulate(cib, "--in-place", *[f"--node-up={n}" for n in nodes], shadow_dir=tmp_path / "shadow")
    assert up.returncode == 0, up.stderr
    where = real_programs.placement(up.stdout)
    vip_resource = "vip_addr" if cfg["network"].get("vip_mode", "aws") == "aws" else "virtual_ip"
    assert {"webserver", vip_resource} <= set(where), up.stdout
    active = where["webserver"]
    assert len({node for res, node in where.items() if res != "fence_nodes"}) == 1, where  # all together

    failed = real_programs.crm_simulate(cib, f"--node-fail={active}", shadow_dir=tmp_path / "shadow")
    assert failed.returncode == 0, failed.stderr
    after = real_programs.placement(failed.stdout)
    other = next(n for n in nodes if n != active)
    assert after["webserver"] == other and all(node == other for node in after.values()), failed.stdout
    if args:
        assert f"Fence (reboot) {active}" in failed.stdout


def test_cluster_resources_are_idempotent(tmp_path):
    tree = rendered(tmp_path, base_config("rhel9"))
    cib = tmp_path / "cib.xml"
    assert real_programs.pcs_build(tree / "cluster/resources.sh", cib, *FAKE_IDS).returncode == 0
    first = configuration(cib)
    again = real_programs.pcs_build(tree / "cluster/resources.sh", cib, *FAKE_IDS)
    assert again.returncode == 0, again.stderr
    assert configuration(cib) == first


def test_resources_script_refuses_bad_instance_ids(tmp_path):
    tree = rendered(tmp_path, base_config("rhel9"))
    done = real_programs.pcs_build(tree / "cluster/resources.sh", tmp_path / "cib.xml", "i-123; reboot", FAKE_IDS[1])
    assert done.returncode == 2 and "not an EC2 instance id" in done.stderr


def test_crm_verify_can_fail(tmp_path):
    """Without the script's stonith-enabled=false, an l2 config with no fence device is invalid."""
    cib = tmp_path / "cib.xml"
    cib.write_text(real_programs.run(["cibadmin", "--empty"]).stdout)
    assert real_programs.run(["pcs", "-f", str(cib), "resource", "create", "x", "ocf:heartbeat:Dummy"]).returncode == 0
    assert real_programs.crm_verify(cib).returncode != 0
