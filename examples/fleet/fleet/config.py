"""Where the fleet's servers are: environment variables, with local defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MariaDB:
    """How to reach the docs database."""

    host: str = "127.0.0.1"
    port: int = 3306
    user: str = "root"
    password: str = ""
    database: str = "test"


@dataclass(frozen=True)
class Redis:
    """How to reach the cache."""

    host: str = "127.0.0.1"
    port: int = 6379


def mariadb(environ: Mapping[str, str] | None = None) -> MariaDB:
    """Read MIGRATE_MARIADB_HOST/PORT/USER/PASSWORD/DATABASE."""
    env = os.environ if environ is None else environ
    default = MariaDB()
    return MariaDB(
        host=env.get("MIGRATE_MARIADB_HOST", default.host),
        port=int(env.get("MIGRATE_MARIADB_PORT", default.port)),
        user=env.get("MIGRATE_MARIADB_USER", default.user),
        password=env.get("MIGRATE_MARIADB_PASSWORD", default.password),
        database=env.get("MIGRATE_MARIADB_DATABASE", default.database),
    )


def redis(environ: Mapping[str, str] | None = None) -> Redis:
    """Read MIGRATE_REDIS_HOST/PORT."""
    env = os.environ if environ is None else environ
    default = Redis()
    return Redis(
        host=env.get("MIGRATE_REDIS_HOST", default.host),
        port=int(env.get("MIGRATE_REDIS_PORT", default.port)),
    )
