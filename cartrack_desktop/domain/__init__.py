"""Pure domain logic: standard library only, no clocks or randomness that are not injected."""
