"""The HTTP API: the only place that wires the domain packages together."""
