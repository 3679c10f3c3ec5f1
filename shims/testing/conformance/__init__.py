"""The shim's conformance suite: the post-mortem's bugs as parity tests, on real sockets.

Run it on every installed backend, or on the ones you name::

    pytest --pyargs shims.testing.conformance
    pytest --pyargs shims.testing.conformance --backends asyncio,uvloop

Every scenario is a ``@pytest.mark.parity`` test: it asserts the contract and
records what it observed (states, ``close_reason``, exception type names,
bytes, pool counters), so the backends are compared with each other, not
only checked.  Peers are backend-independent: threaded raw-socket servers,
often behind a ``shims.testing.FaultProxy``.  Every backend registered in
``shims.backends`` can be named in ``--backends``: to run it against your
own, register it (docs/backends.md).
"""
