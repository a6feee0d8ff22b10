"""What the tests and the quickstart share: where things are, a real Prometheus, spark-submit."""
