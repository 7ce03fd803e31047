"""Runs the real awsvip and fence_aws against an in-process moto that enforces IAM, with the
credentials of IAM users whose only permissions are the program's policy (blueprint.iam) or
variants of it. Writes every step's result as JSON for tests/tools/test_iam_agents.py.

Meant to run inside an empty network namespace (`unshare -n`, only lo up): moto, the IMDS
stand-ins and the agents all talk over 127.0.0.1, and anything aimed elsewhere (a missed
169.254.169.254) fails locally. Usage: python tests/iam_world.py OUT.json
"""

from __future__ import annotations

import copy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

# Before moto is imported: the setup calls below are the only unauthenticated ones.
SETUP_CALLS = 23
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = str(SETUP_CALLS)

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

from blueprint.iam import agent_policy  # noqa: E402
from blueprint.stack_config import parse_settings  # noqa: E402
from lab.ec2_emulator import Identity, imds_server, launch, moto_projection  # noqa: E402
from tests.conftest import base_config  # noqa: E402

ACCOUNT = "123456789012"  # moto's default account: the users below live in it
AWSVIP = "/usr/lib/ocf/resource.d/heartbeat/awsvip"
FENCE_AWS = "/usr/sbin/fence_aws"
VENV_BIN = Path(sys.executable).parent
# fence_aws runs unmodified on Debian's python3 and fencing library, with the venv's boto3 first
# on the path: Debian's boto3 1.26 ignores AWS_ENDPOINT_URL and fence_aws has no endpoint option.
# Its errors (the AccessDenied of a refused StopInstances) go only to syslog: shown on stderr here.
FENCE_WRAPPER = (
    "import runpy, sys, syslog\n"
    "syslog.syslog = lambda *a: print('syslog:', a[-1], file=sys.stderr)\n"
    f"sys.argv[0] = {FENCE_AWS!r}\n"
    f"runpy.run_path({FENCE_AWS!r}, run_name='__main__')\n"
)
AGENT_TIMEOUT = 60


def without(policy: dict, action: str) -> dict:
    out = copy.deepcopy(policy)
    for st in out["Statement"]:
        actions = [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
        st["Action"] = [a for a in actions if a != action]
    out["Statement"] = [st for st in out["Statement"] if st["Action"]]
    return out


class World:
    def __init__(self, work: Path):
        self.work = work
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.setup_calls = 0

    def client(self, service: str, keys: tuple[str, str] = ("setup", "setup"), count: bool = False):
        c = boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
        )
        if count:
            c.meta.events.register("before-send", self._count)
        return c

    def _count(self, **_kw):
        self.setup_calls += 1

    def build(self) -> dict:
        self.region = "eu-west-1"  # base_config's region
        ec2 = self.client("ec2", count=True)
        iam = self.client("iam", count=True)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        cfg = base_config("rhel9")
        cfg["network"]["subnet_id"] = subnet
        self.settings = parse_settings(cfg, source="iam_world")
        assert self.settings.fencing and self.settings.network.region == self.region
        self.nodes = []
        for node in self.settings.cluster.nodes:
            inst = launch(ec2, subnet, node.name, str(node.ip), self.settings.cluster.name)
            self.nodes.append({"name": node.name, "ip": str(node.ip), "instance_id": inst["InstanceId"]})
        reservations = ec2.describe_instances(InstanceIds=[n["instance_id"] for n in self.nodes])["Reservations"]
        by_id = {i["InstanceId"]: i for r in reservations for i in r["Instances"]}
        for n in self.nodes:
            inst = by_id[n["instance_id"]]
            eni = inst["NetworkInterfaces"][0]
            tag_map = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
            n.update(eni=eni["NetworkInterfaceId"], mac=eni["MacAddress"], subnet=eni["SubnetId"], tags=tag_map)

        self.policy = agent_policy(self.settings, ACCOUNT)
        granted = moto_projection(self.policy)
        self.policies = {
            "verbatim": self.policy,
            "granted": granted,
            "no-stop": without(granted, "ec2:StopInstances"),
            "no-assign": without(granted, "ec2:AssignPrivateIpAddresses"),
            "no-unassign": without(granted, "ec2:UnassignPrivateIpAddresses"),
            "observer": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
        }
        self.keys = {}
        for name, doc in self.policies.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="agents", PolicyDocument=json.dumps(doc))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.keys[name] = (key["AccessKeyId"], key["SecretAccessKey"])
        if self.setup_calls != SETUP_CALLS:
            raise RuntimeError(f"setup made {self.setup_calls} calls, INITIAL_NO_AUTH_ACTION_COUNT is {SETUP_CALLS}")
        self.observer = self.client("ec2", self.keys["observer"])
        self.imds_log: dict[str, list] = {n["name"]: [] for n in self.nodes}
        self.imds = {}
        for n in self.nodes:  # one stand-in per node, reached through http_proxy: it always answers as that node
            who = Identity(n["instance_id"], n["mac"], n["eni"], n["ip"])
            log = self.imds_log[n["name"]]
            self.imds[n["name"]] = imds_server(("127.0.0.1", 0), lambda _addr, who=who: who, lambda e, log=log: log.append(e))
        return {
            "endpoint": self.endpoint,
            "nodes": self.nodes,
            "subnet": subnet,
            "vip": str(self.settings.network.vip),
            "policies": self.policies,
            "setup_calls": self.setup_calls,
        }

    # --- ground truth, read with the observer's keys
    def vip_on(self) -> list[str]:
        vip = str(self.settings.network.vip)
        enis = self.observer.describe_network_interfaces(NetworkInterfaceIds=[n["eni"] for n in self.nodes])
        holders = {
            e["NetworkInterfaceId"]
            for e in enis["NetworkInterfaces"]
            for a in e["PrivateIpAddresses"]
            if a["PrivateIpAddress"] == vip
        }
        return [n["name"] for n in self.nodes if n["eni"] in holders]

    def state(self, node: dict) -> str:
        r = self.observer.describe_instances(InstanceIds=[node["instance_id"]])["Reservations"]
        return r[0]["Instances"][0]["State"]["Name"]

    # --- the agents
    def env(self, user: str, node: dict) -> dict[str, str]:
        creds = self.work / f"credentials-{user}"
        key, secret = self.keys[user]
        creds.write_text(f"[default]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
        config = self.work / "config"
        config.write_text(f"[default]\nregion = {self.region}\noutput = text\n")
        port = self.imds[node["name"]].server_address[1]
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.work),
            "LANG": "C.UTF-8",
            "AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_CONFIG_FILE": str(config),
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            # curl (awsvip) and requests (fence_aws) reach "169.254.169.254" through this proxy:
            "http_proxy": f"http://127.0.0.1:{port}",
            "no_proxy": "127.0.0.1,localhost",
        }

    def run(self, cmd: list[str], env: dict[str, str]) -> dict:
        started = time.monotonic()
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=AGENT_TIMEOUT)
            rc, out = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as e:
            rc, out = -1, f"timed out after {AGENT_TIMEOUT}s: {e.stdout!r} {e.stderr!r}"
        return {"rc": rc, "output": out, "seconds": round(time.monotonic() - started, 2)}

    def awsvip(self, user: str, node: dict, action: str) -> dict:
        env = self.env(user, node) | {
            "OCF_ROOT": "/usr/lib/ocf",
            "OCF_RESOURCE_INSTANCE": "vip",
            "OCF_RESKEY_secondary_private_ip": str(self.settings.network.vip),
            "OCF_RESKEY_awscli": str(VENV_BIN / "aws"),
            "OCF_RESKEY_api_delay": "0",
        }
        result = self.run([AWSVIP, action], env)
        result.update(agent="awsvip", user=user, node=node["name"], action=action, vip_on=self.vip_on())
        return result

    def fence(self, user: str, by: dict, target: dict, action: str) -> dict:
        env = self.env(user, by) | {"PYTHONPATH": str(Path(boto3.__file__).parent.parent)}
        cmd = ["/usr/bin/python3", "-c", FENCE_WRAPPER, f"--region={self.region}", f"--plug={target['instance_id']}"]
        # A refused off waits for the power timeout before it reports: keep it short.
        result = self.run([*cmd, f"--action={action}", "--power-timeout=3"], env)
        result.update(agent="fence_aws", user=user, node=by["name"], action=action, target_state=self.state(target))
        return result


def vip_track(w: World) -> dict[str, dict]:
    """awsvip on node A with the program's actions."""
    a = w.nodes[0]
    steps = {}
    for label, action in [("before", "monitor"), ("", "start"), ("started", "monitor"), ("", "stop"), ("stopped", "monitor")]:
        steps["granted/awsvip-" + "-".join(filter(None, (action, label)))] = w.awsvip("granted", a, action)
    return steps


def refused_vip_track(w: World) -> dict[str, dict]:
    """awsvip on node B: starts that must be refused, then a stop without UnassignPrivateIpAddresses."""
    b = w.nodes[1]
    return {
        "no-assign/awsvip-start": w.awsvip("no-assign", b, "start"),
        "verbatim/awsvip-start": w.awsvip("verbatim", b, "start"),
        "no-unassign/awsvip-start": w.awsvip("no-unassign", b, "start"),
        "no-unassign/awsvip-stop": w.awsvip("no-unassign", b, "stop"),
        "granted/awsvip-stop-cleanup": w.awsvip("granted", b, "stop"),
    }


def fence_track(w: World) -> dict[str, dict]:
    """fence_aws on node A fencing node B, the same three policies."""
    a, b = w.nodes
    steps = {}
    for label, action in [("before", "status"), ("", "off"), ("off", "status"), ("", "on")]:
        steps["granted/fence-" + "-".join(filter(None, (action, label)))] = w.fence("granted", a, b, action)
    steps["no-stop/fence-off"] = w.fence("no-stop", a, b, "off")
    steps["verbatim/fence-status"] = w.fence("verbatim", a, b, "status")
    steps["verbatim/fence-off"] = w.fence("verbatim", a, b, "off")
    return steps


def scenario(w: World) -> dict:
    steps: dict[str, dict] = {}
    # Enforcement is on: the granted user cannot call what its policy does not name.
    try:
        w.client("ec2", w.keys["granted"]).describe_vpcs()
        steps["granted/unlisted-call"] = {"refused": False}
    except Exception as e:  # botocore's ClientError
        steps["granted/unlisted-call"] = {"refused": True, "error": str(e)}
    # The VIP on node A's ENI, the VIP on node B's (moto lets both hold it) and the fencing of
    # node B (its instance state, which awsvip never reads) are independent: run side by side.
    with ThreadPoolExecutor(3) as pool:
        tracks = [pool.submit(track, w) for track in (vip_track, refused_vip_track, fence_track)]
        for track in tracks:
            steps.update(track.result(timeout=10 * AGENT_TIMEOUT))
    return steps


def moto_verdicts(policy: dict) -> dict[str, dict[str, str]]:
    """moto's own evaluator on the verbatim document, and on the same with Resource "*" and every
    Condition value replaced by one that names another subnet or cluster."""
    from moto.iam.access_control import IAMPolicy

    wrong = copy.deepcopy(policy)
    for st in wrong["Statement"]:
        st["Resource"] = "*"
        for values in st.get("Condition", {}).values():
            for key in values:
                values[key] = "not-this-cluster"
    actions = [a for st in policy["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])]
    return {
        name: {a: IAMPolicy(json.dumps(doc)).is_action_permitted(a, "*").name for a in actions}
        for name, doc in (("verbatim", policy), ("wrong-conditions", wrong))
    }


def main() -> None:
    out = Path(sys.argv[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    with tempfile.TemporaryDirectory(prefix="iam-world-") as tmp:
        w = World(Path(tmp))
        try:
            world = w.build()
            steps = scenario(w)
            world.update(steps=steps, imds=w.imds_log, moto_verdicts=moto_verdicts(w.policy))
        finally:
            for server in getattr(w, "imds", {}).values():
                server.shutdown()
            w.moto.stop()
    out.write_text(json.dumps(world, indent=1))


if __name__ == "__main__":
    main()
