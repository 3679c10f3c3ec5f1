"""Bring your own scheduler: the contract a backend implements, and the one registry of names.

A backend is one object (a ``Backend`` subclass instance) registered under a
name; that name is then valid everywhere a backend is named: the per-service
flag, ``shims.run(backend=...)``, ``migrate flags``, ``migrate parity``, the
parity plugin's ``--backends`` and the conformance suite::

    from shims.backends import Backend, register

    class CompanyBackend(Backend):
        ...  # run, running, clock, sleep, spawn, current_task, dial, listen

    register("company", CompanyBackend())

or, with no code in this toolkit, an entry point in the company's package::

    [project.entry-points."shims.backends"]
    company = "company_sched.shim_backend:backend"

``names()`` lists the registered, installed backends (the default first),
``get(name)`` returns the object. The Unix-socket pieces every backend
shares (``connect_unix_socket``, ``listen_unix_socket``, ``UNIX_BACKLOG``,
``socket_file_mode``, ``unix_listen_error``) and ``peer_address`` keep a
backend's ``dial_unix``/``listen_unix`` the same as the bundled ones. See docs/backends.md for the contract, the
facts and a step-by-step guide.
"""

from .._contract import Backend as Backend
from .._contract import Clock as Clock
from .._contract import Handle as Handle
from .._contract import Listener as Listener
from .._contract import Task as Task
from .._contract import Timeout as Timeout
from .._contract import Transport as Transport
from .._contract import Waiter as Waiter
from .._registry import GROUP as GROUP
from .._registry import get as get
from .._registry import names as names
from .._registry import register as register
from ._facts import Facts as Facts
from ._facts import new_connection as new_connection
from ._facts import peer_address as peer_address
from ._unix import UNIX_BACKLOG as UNIX_BACKLOG
from ._unix import connect_unix_socket as connect_unix_socket
from ._unix import listen_unix_socket as listen_unix_socket
from ._unix import socket_file_mode as socket_file_mode
from ._unix import unix_listen_error as unix_listen_error

__all__ = [
    "GROUP",
    "UNIX_BACKLOG",
    "Backend",
    "Clock",
    "Facts",
    "Handle",
    "Listener",
    "Task",
    "Timeout",
    "Transport",
    "Waiter",
    "connect_unix_socket",
    "get",
    "listen_unix_socket",
    "names",
    "new_connection",
    "peer_address",
    "register",
    "socket_file_mode",
    "unix_listen_error",
]
