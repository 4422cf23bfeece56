"""What an `--events-db` value names, without importing a store: the `recsys serve` settings read it in a
supervisor process that should not load pandas or the PostgreSQL driver."""

from __future__ import annotations

from recsys.errors import ConfigError

__all__ = ["is_postgres_url", "describe", "first_line"]

_URL_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(target: str) -> bool:
    """Whether an `--events-db` value names a PostgreSQL server rather than a SQLite file."""
    return target.startswith(_URL_SCHEMES)


def describe(dsn: str) -> str:
    """The DSN as `postgresql://user@host:port/dbname`, without its password, for messages and logs."""
    import psycopg  # here: a process that only tells a URL from a file path does not load libpq
    from psycopg.conninfo import conninfo_to_dict

    try:
        d = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        why = first_line(exc).replace(dsn, "…")  # libpq quotes the string, password and all
        raise ConfigError(f"events database is not a valid PostgreSQL connection string: {why}; expected "
                          "postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME") from None
    user = f"{d['user']}@" if d.get("user") else ""
    port = f":{d['port']}" if d.get("port") else ""
    return f"postgresql://{user}{d.get('host') or 'localhost'}{port}/{d.get('dbname') or ''}"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
