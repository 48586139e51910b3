"""Benchmarks of the service over HTTP, against a server started the way production starts it."""
