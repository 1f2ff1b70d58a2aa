"""Helpers shared by the tests (and the benchmarks): servers, fakes, page and browser drivers."""
