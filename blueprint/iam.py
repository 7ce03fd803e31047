"""The instance role's permissions, as a plain policy document: what awsvip and fence_aws call,
scoped to this cluster's subnet and tagged instances. Pure (no Pulumi): components/aws.py
attaches it, tests/tools/test_iam_agents.py runs the real agents against it in moto."""

from __future__ import annotations

from blueprint.settings import Settings

# The tag on both instances that the Fence statement is scoped by.
CLUSTER_TAG = "gir-lb:cluster"


def agent_policy(s: Settings, account_id: str) -> dict:
    """Describe on "*"; the VIP moves only on ENIs in the cluster subnet (vip_mode aws) or only in
    the named route tables (overlay: aws-vpc-move-ip replaces the VIP's route, never creates one);
    stop/start only on instances tagged with this cluster's name."""
    arn = f"arn:aws:ec2:{s.network.region}:{account_id}"
    # Describe* cannot be scoped to resources in EC2.
    describe = ["ec2:DescribeInstances"] + (["ec2:DescribeRouteTables"] if s.network.vip_mode == "overlay" else [])
    if s.network.vip_mode == "overlay":
        move_vip: dict = {
            "Sid": "MoveVip",
            "Effect": "Allow",
            "Action": "ec2:ReplaceRoute",
            "Resource": [f"{arn}:route-table/{t}" for t in s.network.route_table_ids],
        }
    else:
        move_vip = {
            "Sid": "MoveVip",
            "Effect": "Allow",
            "Action": ["ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"],
            "Resource": f"{arn}:network-interface/*",
            "Condition": {"StringEquals": {"ec2:Subnet": f"{arn}:subnet/{s.network.subnet_id}"}},
        }
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Action": describe if len(describe) > 1 else describe[0], "Resource": "*"},
            move_vip,
            {
                "Sid": "Fence",
                "Effect": "Allow",
                "Action": ["ec2:StopInstances", "ec2:StartInstances"],
                "Resource": f"{arn}:instance/*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{CLUSTER_TAG}": s.cluster.name}},
            },
        ],
    }
