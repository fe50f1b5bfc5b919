"""Loopback fakes of the platforms torchtutor talks to, driven by their real client libraries."""
