"""Guardrails a platform team enforces, as plain functions over recorded resources
(pulumi-policy needs the CLI). Each returns a list of violations."""

from __future__ import annotations

from pulumi_harness import Registered


def no_public_ssh(resources: list[Registered]) -> list[str]:
    return [
        f"{r.name}: SSH open to the world"
        for r in resources
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        and r.inputs.get("fromPort", 0) <= 22 <= r.inputs.get("toPort", -1)
        and r.inputs.get("cidrIpv4") in ("0.0.0.0/0",)
    ]


def imdsv2_required(resources: list[Registered]) -> list[str]:
    return [
        f"{r.name}: IMDSv2 not required"
        for r in resources
        if r.type == "aws:ec2/instance:Instance" and (r.inputs.get("metadataOptions") or {}).get("httpTokens") != "required"
    ]


def volumes_encrypted(resources: list[Registered]) -> list[str]:
    return [
        f"{r.name}: root volume not encrypted"
        for r in resources
        if r.type == "aws:ec2/instance:Instance" and not (r.inputs.get("rootBlockDevice") or {}).get("encrypted")
    ]


def prod_protected(resources: list[Registered], environment: str) -> list[str]:
    if environment != "prod":
        return []
    return [f"{r.name}: not protected in prod" for r in resources if r.type.startswith("aws:") and not r.protect]


def all_violations(resources: list[Registered], environment: str) -> list[str]:
    return [
        *no_public_ssh(resources),
        *imdsv2_required(resources),
        *volumes_encrypted(resources),
        *prod_protected(resources, environment),
    ]
