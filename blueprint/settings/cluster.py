"""cluster: the two nodes, corosync timers, Pacemaker resource options, fencing."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..profiles import DEFAULT_PROFILE, PROFILES
from .types import Cidr, ClusterName, InstanceType, IPv4, Model, NodeName, SubnetId, raise_if


class ClusterNode(Model):
    name: NodeName
    # None only while a stack with network.address_pool is validated: Settings fills it from the pool,
    # so every reader after validation sees an address (hence the type, and the ignore).
    ip: IPv4 = Field(None, description="omitted when network.address_pool gives it")  # type: ignore[assignment]


# A stack's Settings passes its OS profile's default in; this one serves a ClusterSettings alone.
TOKEN_DEFAULT_MS = PROFILES[DEFAULT_PROFILE].token_default_ms


class FencingSettings(Model):
    mode: Literal["fence_aws", "disabled"] = Field(
        "fence_aws", description="disabled turns STONITH off: an explicit, unsafe opt-out"
    )
    delay_s: int = Field(
        15, ge=0, le=120, description="priority-fencing-delay: in a split the node running httpd fences first and keeps the VIP"
    )


class QuorumDeviceSettings(Model):
    """A third vote from an arbiter running corosync-qnetd: in a split the partition it votes for
    keeps quorum and the other stops, so no fencing race (and no priority-fencing-delay) is needed."""

    address: IPv4 = Field(description="the arbiter's IPv4 address (qnetd on TCP 5403, pcsd on 2224)")
    create: bool = Field(
        False, description="true: gir-lb makes the arbiter (aws: an instance at address; lab: a box); false: an existing one"
    )
    # ffsplit is the two-node algorithm: exactly one partition of a 50:50 split gets the vote. The
    # heuristics (the node holding the VIP passes) decide a split first, so the serving side wins;
    # the tie-breaker only decides between partitions that score alike (neither holds the VIP).
    algorithm: Literal["ffsplit", "lms"] = "ffsplit"
    tie_breaker: Literal["lowest", "highest"] = Field(
        "lowest", description="the partition that wins a tie: nodes[0] (lowest) or nodes[1] (highest node id)"
    )
    # corosync-qdevice's heartbeat is 0.8 x this, and qnetd holds a silent node alive for 1.5
    # heartbeats: after a node loss the survivor waits that long for the vote. The default 10000
    # cost 7 s per node loss in the lab (bench failover); 2000 cost 1 s. qnetd accepts >= 1250.
    timeout_ms: int = Field(2000, ge=1250, le=60000, description="quorum.device.timeout: how soon a lost node's vote is given up")
    instance_type: InstanceType = Field("t3.micro", description="aws with create: the arbiter's size")
    subnet_id: SubnetId | None = Field(
        None, description="aws with create: the arbiter's subnet (another AZ); default network.subnet_id"
    )
    subnet_cidr: Cidr | None = Field(None, description="CIDR of quorum_device.subnet_id; required with it")

    @model_validator(mode="after")
    def _subnet_pair(self) -> QuorumDeviceSettings:
        items = []
        if self.subnet_id is not None and self.subnet_cidr is None:
            items.append(("subnet_cidr", "required with subnet_id: the arbiter's address is checked against it"))
        if self.subnet_cidr is not None and self.subnet_id is None:
            items.append(("subnet_cidr", "given without subnet_id"))
        if self.subnet_id is not None and not self.create:
            items.append(("subnet_id", "only with create: true (an existing arbiter is reached at its address)"))
        raise_if(items)
        return self


class ClusterSettings(Model):
    name: ClusterName = "gir-lb"
    nodes: list[ClusterNode] = Field(min_length=2, max_length=2)
    transport: Literal["knet", "udpu"] | None = Field(
        None, description="default: the OS profile's: knet (corosync 3) or udpu (cman on rhel6)"
    )
    # Below 500 ms token / 250 ms knet ping timeout the membership flapped in our measurements. The
    # default trades node-loss time for the network hiccup ridden out (bench token, docs/benchmarks.md):
    # 1000 ms rode out a 1.5 s cut of the link, 3000 ms a 5 s one, for 4 s more per node loss.
    token_ms: int = Field(
        TOKEN_DEFAULT_MS, ge=500, le=60000, description="corosync totem token; default 3000, 10000 with cman (rhel6)"
    )
    knet_ping_interval_ms: int = Field(375, ge=50, le=10000, description="knet link ping_interval; default: timeout / 2")
    knet_ping_timeout_ms: int = Field(750, ge=250, le=30000, description="knet link ping_timeout; default: token / 4")
    dc_deadtime_s: int = Field(10, ge=2, le=120, description="Pacemaker dc-deadtime, seeded before the first start")
    vip_monitor_s: int = Field(10, ge=1, le=300)
    # httpd crash downtime ≈ the wait for the next monitor + ~0.5 s restart: median 0.9 s at 1 s,
    # 3.3 s at 5 s (docs/benchmarks.md); a monitor is one local /server-status request.
    httpd_monitor_s: int = Field(1, ge=1, le=300)
    httpd_migration_threshold: int = Field(10, ge=1, le=1000)
    resource_stickiness: int = Field(100, ge=0, le=1000000)
    # With migration-threshold 1 one failed monitor bans a resource from its node; without a
    # failure-timeout the ban lasted until someone ran `pcs resource cleanup`.
    failure_timeout_s: int = Field(
        120, ge=10, le=86400, description="Pacemaker failure-timeout: a failure this old is forgotten, and with it the ban"
    )
    fencing: FencingSettings = FencingSettings()
    quorum_device: QuorumDeviceSettings | None = Field(None, description="an arbiter's third vote (corosync-qnetd)")

    @model_validator(mode="before")
    @classmethod
    def _knet_from_token(cls, data: Any) -> Any:
        """knet timers left out follow the token: the link is down well before the token is lost."""
        if not isinstance(data, dict) or not isinstance(token := data.get("token_ms", TOKEN_DEFAULT_MS), int):
            return data
        timeout = data.get("knet_ping_timeout_ms", max(250, token // 4))
        interval = timeout // 2 if isinstance(timeout, int) else None
        return {"knet_ping_timeout_ms": timeout, **({"knet_ping_interval_ms": interval} if interval else {}), **data}

    @model_validator(mode="after")
    def _nodes_differ(self) -> ClusterSettings:
        items = []
        if self.nodes[0].name == self.nodes[1].name:
            items.append(("nodes[1].name", f"{self.nodes[1].name!r} is also nodes[0].name"))
        if self.nodes[0].ip is not None and self.nodes[0].ip == self.nodes[1].ip:
            items.append(("nodes[1].ip", f"{self.nodes[1].ip} is also nodes[0].ip"))
        if self.knet_ping_interval_ms >= self.knet_ping_timeout_ms:
            items.append(("knet_ping_interval_ms", "must be shorter than knet_ping_timeout_ms"))
        raise_if(items)
        return self
