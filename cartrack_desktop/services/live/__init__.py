"""Live positions: the Redis contract and its Lua scripts, decoding, the live feed, the simulator."""
