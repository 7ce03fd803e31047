"""One typed, validated model of a gir-lb stack.

Every problem is collected and reported at once, each line naming its key path
(``gir-lb:tenants[1].rcs.members[0].app_name``), before anything is rendered or created.
This package is the only place where user input is checked: templates and scripts may
assume every value they get from here is safe for a URL path, an Apache token and a shell word.

Its parts: `types` (value types, `Problems`), `addresses` (subnet arithmetic, the test pool),
`tenants`, `network`, `cluster`, `httpd`, `tls`, `model` (the top-level `Settings`) and `rules`
(what holds across parts: platforms, addresses, prod risks).
"""

from .addresses import PoolAddresses, addresses_from_pool, vip_problem
from .httpd import ServiceTimings
from .model import Settings
from .tenants import Tenant
from .tls import SECRET_PLACEHOLDER, check_tls_pair
from .types import NAMESPACE, Problems

__all__ = [
    "NAMESPACE",
    "SECRET_PLACEHOLDER",
    "PoolAddresses",
    "Problems",
    "ServiceTimings",
    "Settings",
    "Tenant",
    "addresses_from_pool",
    "check_tls_pair",
    "vip_problem",
]
