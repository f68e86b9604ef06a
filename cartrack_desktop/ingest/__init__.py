"""Device ingest: real vehicles report over HTTP in the protocols the field already uses.

Pure (no I/O): `protocols/` (one decoder per protocol -> DeviceReport), `units`, `filters`, `alarms`,
`report`, `options`. With I/O, never Qt: `http_server` (httptools), `writer` (micro-batches
through the live store's Lua tick script), `devices` (device -> unit, Unknown devices),
`server` (one process's pipeline), `worker` (the process), `service` (IngestService, what the
runtime starts). See the README, "Real devices".
"""
