"""Runs the real programs that will read the rendered files: apache2 (httpd 2.4), httpd 2.2.34 (the
rhel6 profile's, built by scripts/httpd22.sh), cloud-init, shellcheck, pcs, crm_verify and
crm_simulate. Each returns the completed process; callers assert on it."""

from __future__ import annotations

import os
import re
import subprocess
from functools import cache
from pathlib import Path

from blueprint.plan import comment_out_listen
from blueprint.profiles import PROFILES

APACHE_MODULES = Path("/usr/lib/apache2/modules")
# What RHEL's httpd.conf + conf.modules.d load by default: the modules the profiles enable on
# Debian (a2enmod in user-data) plus the ones Debian's own apache2.conf already loads.
MODULES = [
    (f"{name}_module", f"mod_{name}.so")
    for name in ("mpm_event", "authz_core", "authz_host", "socache_shmcb", *PROFILES["debian12"].apache_modules)
]
PROFILE_ROOTS = {"etc/httpd": "conf.d", "etc/apache2": "conf-enabled"}

REPO = Path(__file__).resolve().parent.parent
# httpd 2.2.34 with the worker MPM, built by scripts/httpd22.sh; without mod_ssl (its configure
# refuses OpenSSL 3.0), so a bundle that loads mod_ssl cannot be read by it here.
HTTPD22 = REPO / ".tools" / "httpd22"
RHEL6 = PROFILES["rhel6"]
RHEL6_MAIN_CONFIG = REPO / "lab" / "rhel6" / "httpd.conf"  # the stand-in for RHEL 6's stock httpd.conf


def run(cmd: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


@cache
def test_certificate(workdir: str) -> tuple[str, str]:
    """A throwaway self-signed certificate and key (PEM text) for the TLS front."""
    key, crt = Path(workdir) / "test.key", Path(workdir) / "test.crt"
    done = run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-days",
            "2",
            "-subj",
            "/CN=gir-lb.test",
        ]
    )
    assert done.returncode == 0, done.stderr
    return crt.read_text(), key.read_text()


def apache_configtest(tree: Path, workdir: Path) -> subprocess.CompletedProcess:
    """`apache2 -t` on a harness main config that loads the modules and includes the rendered
    2.4 files from their node layout (ServerRoot = the rendered etc/httpd or etc/apache2)."""
    roots = [r for r in PROFILE_ROOTS if (tree / r).is_dir()]
    assert len(roots) == 1, roots
    server_root = tree / roots[0]
    crt, key = test_certificate(str(workdir))
    for placeholder, text in (("server.crt", crt), ("server.key", key)):
        for f in server_root.rglob(placeholder):
            f.write_text(text)
    loads = "\n".join(f"LoadModule {name} {APACHE_MODULES / so}" for name, so in MODULES)
    main = workdir / "harness.conf"
    main.write_text(
        f'ServerRoot "{server_root}"\n'
        f'PidFile "{workdir}/httpd.pid"\nDefaultRuntimeDir "{workdir}"\nErrorLog "{workdir}/error.log"\n'
        "ServerName gir-lb.test\nListen 127.0.0.1:8\n"
        f"{loads}\n"
        f"IncludeOptional {PROFILE_ROOTS[roots[0]]}/*.conf\n"
    )
    return run(["apache2", "-t", "-f", str(main)])


def install_rhel6_main_config(settings, tree: Path) -> Path:
    """RHEL 6's stock main config (lab/rhel6/httpd.conf) at its node path in a rendered rhel6 tree,
    as the push step leaves it: its Listen lines commented out by the step's own command."""
    assert settings.profile.httpd_version == "2.2", settings.os_profile
    main = tree / settings.profile.main_config.lstrip("/")
    main.parent.mkdir(parents=True, exist_ok=True)
    main.write_text(RHEL6_MAIN_CONFIG.read_text())
    done = run(["bash", "-c", comment_out_listen(settings, str(main))])
    assert done.returncode == 0, done.stderr
    return main


def httpd22_configtest(tree: Path, workdir: Path) -> subprocess.CompletedProcess:
    """`httpd -t` of httpd 2.2.34 on a rendered rhel6 tree under RHEL 6's main config (put there by
    install_rhel6_main_config). Only its ServerRoot changes, to the rendered etc/httpd, which gets
    the links RHEL 6 has there: modules (the test build's), logs and run (into workdir), so its
    PidFile, ErrorLog and CustomLog land in workdir. The build has no mod_ssl: a bundle with
    httpd.tls.enabled or an https member fails here on loading modules/mod_ssl.so."""
    httpd = HTTPD22 / "bin" / "httpd"
    assert httpd.exists(), f"{httpd} is missing: run scripts/httpd22.sh"
    server_root = tree / RHEL6.server_root.lstrip("/")
    main = tree / RHEL6.main_config.lstrip("/")
    assert main.exists(), f"{main} is missing: install_rhel6_main_config puts it there"
    text, count = re.subn(r"^ServerRoot .*$", f'ServerRoot "{server_root}"', main.read_text(), flags=re.M)
    assert count == 1, f"{main}: {count} ServerRoot lines"
    main.write_text(text)
    crt, key = test_certificate(str(workdir))
    for placeholder, pem in (("server.crt", crt), ("server.key", key)):
        for f in server_root.rglob(placeholder):
            f.write_text(pem)
    for name in ("logs", "run"):
        (workdir / name).mkdir(exist_ok=True)
        (server_root / name).symlink_to(workdir / name)
    (server_root / "modules").symlink_to(HTTPD22.resolve() / "modules")
    return run([str(httpd), "-t", "-f", str(main)])


def cloud_init_schema(user_data: Path) -> subprocess.CompletedProcess:
    return run(["cloud-init", "schema", "--config-file", str(user_data)])


def shellcheck(*scripts: Path) -> subprocess.CompletedProcess:
    return run(["shellcheck", "--severity=style", *map(str, scripts)])


def pcs_build(script: Path, cib: Path, *args: str) -> subprocess.CompletedProcess:
    if not cib.exists():
        empty = run(["cibadmin", "--empty"])
        assert empty.returncode == 0, empty.stderr
        cib.write_text(empty.stdout)
    return run(["bash", str(script), "build", str(cib), *args], timeout=300)


def _env(shadow_dir: Path) -> dict[str, str]:
    shadow_dir.mkdir(exist_ok=True)
    return {**os.environ, "CIB_shadow_dir": str(shadow_dir)}


def crm_verify(cib: Path) -> subprocess.CompletedProcess:
    return run(["crm_verify", "-x", str(cib), "-V"])


def crm_simulate(cib: Path, *args: str, shadow_dir: Path) -> subprocess.CompletedProcess:
    return run(["crm_simulate", "-x", str(cib), "--quorum", "true", "-S", *args], env=_env(shadow_dir))


def placement(simulate_output: str) -> dict[str, str]:
    """resource -> node from the 'Revised Cluster Status' part of crm_simulate's output."""
    revised = simulate_output.split("Revised Cluster Status:", 1)[1]
    return dict(re.findall(r"\* (\S+)\s+\([^)]*\):\s+Started (\S+)", revised))
