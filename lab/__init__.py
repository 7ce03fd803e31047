"""The local lab: the gir-lb HA pair in network namespaces on one Linux machine."""
