"""The instance role's permissions, as a plain policy document: what awsvip and fence_aws call,
scoped to this cluster's subnet and tagged instances. Pure (no Pulumi): components/aws.py
attaches it, tests/tools/test_iam_agents.py runs the real agents against it in moto."""

from __future__ import annotations

from blueprint.settings import Settings

# The tag on both instances that the Fence statement is scoped by.
CLUSTER_TAG = "gir-lb:cluster"


def agent_policy(s: Settings, account_id: str) -> dict:
    """Describe on "*", VIP moves only on ENIs in the cluster subnet, stop/start only on
    instances tagged with this cluster's name."""
    arn = f"arn:aws:ec2:{s.network.region}:{account_id}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            # Describe* cannot be scoped to resources in EC2.
            {"Sid": "Describe", "Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"},
            {
                "Sid": "MoveVip",
                "Effect": "Allow",
                "Action": ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
                "Resource": f"{arn}:network-interface/*",
                "Condition": {"StringEquals": {"ec2:Subnet": f"{arn}:subnet/{s.network.subnet_id}"}},
            },
            {
                "Sid": "Fence",
                "Effect": "Allow",
                "Action": ["ec2:StopInstances", "ec2:StartInstances"],
                "Resource": f"{arn}:instance/*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": s.cluster.name}},
            },
        ],
    }
