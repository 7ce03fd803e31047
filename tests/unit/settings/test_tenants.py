"""Tenants, their services and members: unique ids and routes, every service present with members,
WebDAV's active member and extra paths, no member twice in one balancer."""

from __future__ import annotations

import pytest

from blueprint.stack_config import parse_settings
from tests.conftest import base_config
from tests.unit.settings.conftest import only_problem, with_tenant


def test_duplicate_tenant_id():
    cfg = base_config()
    cfg["tenants"][1]["id"] = "t1"
    assert only_problem(cfg) == "gir-lb:tenants[1].id: tenant id 't1' is also tenants[0].id"


def test_duplicate_rws_route():
    cfg = with_tenant(base_config(), 0, lambda t: t["rws"]["members"][1].update(route="T1RWS1"))
    assert only_problem(cfg) == "gir-lb:tenants[0].rws.members[1].route: route 'T1RWS1' is already used by members[0]"


def test_rcs_app_names_that_give_the_same_route():
    cfg = with_tenant(base_config(), 1, lambda t: t["rcs"]["members"][1].update(app_name="T2_RCS_1"))
    assert only_problem(cfg) == "gir-lb:tenants[1].rcs.members[1].route: route 'T2_RCS_1' is already used by members[0]"


def test_empty_service():
    cfg = with_tenant(base_config(), 1, lambda t: t["interaction_receiver"].update(members=[]))
    assert only_problem(cfg).startswith("gir-lb:tenants[1].interaction_receiver.members: List should have at least 1 item")


def test_missing_service():
    cfg = with_tenant(base_config(), 0, lambda t: t.pop("rcs"))
    assert only_problem(cfg) == "gir-lb:tenants[0].rcs: Field required"


def test_webdav_needs_an_active_member():
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"]["members"][0].update(hot_standby=True))
    assert only_problem(cfg) == "gir-lb:tenants[0].webdav.members: at least one member must not be a hot standby"


@pytest.mark.parametrize("bad", ["rcs", "recordings", "api"])
def test_webdav_extra_path_cannot_shadow_a_service(bad):
    cfg = with_tenant(base_config(), 0, lambda t: t["webdav"].update(extra_paths=["dest2", bad]))
    assert only_problem(cfg) == f"gir-lb:tenants[0].webdav.extra_paths[1]: {bad!r} is already a GIR service path"


@pytest.mark.parametrize("service", ["rws", "rp", "rcs", "interaction_receiver", "webdav"])
def test_the_same_member_twice_in_a_balancer_is_refused(service):
    # Apache shares one worker for both and ignores the second's parameters (AH01150)
    cfg = base_config()
    members = cfg["tenants"][1][service]["members"]
    members[0]["url"] = "http://gir-member.example:8080"
    members[1]["url"] = "HTTP://GIR-Member.example:8080/"  # the same URL once normalised
    assert only_problem(cfg) == (
        f"gir-lb:tenants[1].{service}.members[1].url: "
        "http://gir-member.example:8080 is also members[0].url: Apache would ignore it"
    )


def test_the_same_member_in_two_balancers_is_accepted():
    cfg = base_config()
    cfg["tenants"][0]["rp"]["members"][0]["url"] = cfg["tenants"][0]["rws"]["members"][0]["url"]
    parse_settings(cfg)
