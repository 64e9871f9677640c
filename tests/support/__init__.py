"""Helpers the tests share: the offline harness, recordings, engines, registries, servers."""
