"""python -m bench <scenario> [options]   (run as root: scenarios bring a lab up)"""

from __future__ import annotations

import sys

from . import alerts, capacity, ec2_trouble, failover, httpd_monitor, reload, rolling, scale, throughput, token

SCENARIOS = {
    "alerts": alerts.main,
    "capacity": capacity.main,
    "ec2-trouble": ec2_trouble.main,
    "failover": failover.main,
    "httpd-monitor": httpd_monitor.main,
    "reload": reload.main,
    "rolling": rolling.main,
    "scale": scale.main,
    "throughput": throughput.main,
    "token": token.main,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in SCENARIOS:
        print(f"usage: python -m bench {{{'|'.join(SCENARIOS)}}} [options]", file=sys.stderr)
        sys.exit(2)
    sys.exit(SCENARIOS[sys.argv[1]](sys.argv[2:]))
