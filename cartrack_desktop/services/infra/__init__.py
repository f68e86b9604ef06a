"""What every service room uses: supervision, retries, errors, rejections, redaction, connections,
timeouts, embedded servers, leases, health."""
