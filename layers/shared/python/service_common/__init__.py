"""Code shared by the service's functions (deployed as the shared Lambda layer)."""
