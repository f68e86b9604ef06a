"""Routing on the imported road network (issue 14), Qt-free: snapping fixes to roads, drive times from every
unit to a point in one search, routes with free-flow times, and simulated units that drive on streets.

Shortest paths are scipy.sparse.csgraph's Dijkstra over a CSR graph (C code; measured against igraph and
networkx in the README); the spatial index is a grid of the road pieces passing through each 64 m cell
(snap.py), with 32-bit indices and float32 metres: the metro network's router is ~31 MB.
"""
