"""feedsvc: Storeden orders as a Retino XML order feed, served over HTTPS."""

__version__ = "0.1.0"
