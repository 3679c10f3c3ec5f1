"""One backend-neutral runtime and connection API over legacy, asyncio and uvloop."""

from ._errors import ConnectError as ConnectError
from ._errors import ConnectionClosedError as ConnectionClosedError
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import FlagError as FlagError
from ._errors import PeerClosedError as PeerClosedError
from ._errors import ReadTimeout as ReadTimeout
from ._errors import ShimError as ShimError
from ._errors import ShimTimeout as ShimTimeout
from ._errors import WriteTimeout as WriteTimeout

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosedError",
    "FlagError",
    "PeerClosedError",
    "ReadTimeout",
    "ShimError",
    "ShimTimeout",
    "WriteTimeout",
]
