"""The base layer: what every other layer may use and that uses none of them.

The request :class:`~idp.base.context.Context`, the typed settings, the clock,
encoding helpers, the OAuth error classes and the guarded outbound HTTP client.
"""
