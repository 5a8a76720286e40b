"""Traffic routers: how client traffic moves from the source cluster to the target.

Every router implements :class:`~orchestrator.migration.routers.base.TrafficRouter`. ``none``
moves no traffic (clients resolve each cluster themselves; only replicas move);
``gateway-api`` sets weights on an HTTPRoute in the edge cluster.
"""
