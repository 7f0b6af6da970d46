"""chainrule's speed benchmarks: ``python -m benchmarks`` (see ``benchmarks.harness``)."""
