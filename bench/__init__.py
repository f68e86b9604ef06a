"""Performance benchmarks for CarTrack Desktop: `python -m bench [--only a,b] [--quick]`.

Every benchmark runs against real servers (a private redis-server and secantusd-py) and the
real QtWebEngine map. GUI and CPU-sensitive benchmarks run in their own worker process
(`bench.worker`) so one measurement never inherits another's memory, threads or Qt state.
"""
