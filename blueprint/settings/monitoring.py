"""monitoring: who may scrape the nodes' exporters, where AWS alarms go, and the alert thresholds."""

from __future__ import annotations

import ipaddress

from pydantic import Field, ValidationInfo, field_validator

from .types import Cidr, Model, SnsTopicArn, raise_if, repeated_cidrs


class MonitoringSettings(Model):
    source_cidrs: list[Cidr] = Field(
        default_factory=list,
        description="who may scrape the exporters: on AWS their ports open to exactly these (none: no port opens)",
    )
    alarm_topic_arn: SnsTopicArn | None = Field(
        None, description="aws: CloudWatch alarms on both instances' status checks notify this SNS topic (same region)"
    )
    no_member_for_s: int = Field(60, ge=0, le=3600, description="a tenant service without a usable member this long alerts")
    member_down_minutes: int = Field(5, ge=1, le=1440, description="a member in error this long alerts")
    cert_expiry_days: int = Field(21, ge=1, le=365, description="the front's TLS certificate this close to expiry alerts")

    @field_validator("source_cidrs")
    @classmethod
    def _each_cidr_once(cls, v: list[ipaddress.IPv4Network], info: ValidationInfo) -> list[ipaddress.IPv4Network]:
        raise_if(repeated_cidrs(v, str(info.field_name)))
        return v
