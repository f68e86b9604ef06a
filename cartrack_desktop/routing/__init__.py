"""Routing on the imported road network (issue 14), Qt-free: snapping fixes to roads, drive times from every
unit to a point in one search, routes with free-flow times, and simulated units that drive on streets.

Shortest paths are scipy.sparse.csgraph's Dijkstra over a CSR graph (C code; measured against igraph and
networkx in the README); the spatial index is scipy's cKDTree over points sampled along every road.
"""
