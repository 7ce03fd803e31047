"""gir-lb: the Genesys Interaction Recording multi-tenant load balancer as a two-node HA pair."""
