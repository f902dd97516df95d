"""The PostgreSQL role of each service (created with their grants by migration 0027).

In a cluster, an operator grants each role to the login user of its service, e.g.
    CREATE ROLE cloudwaste_scanner_login LOGIN PASSWORD '...' IN ROLE cloudwaste_scanner;
and gives that service its own CLOUDWASTE_DATABASE_URL. On the embedded local cluster (trust
authentication, `make demo`, the tests) the roles themselves are allowed to log in.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

SERVICES = ("scanner", "enricher", "exporter", "predictor")


def role(service: str) -> str:
    if service not in SERVICES:
        raise ValueError(f"no database role for {service!r}")
    return f"cloudwaste_{service}"


def local_urls(owner_url: str) -> dict[str, str]:
    """Lets every service role log in (a local, trusted cluster only: no password is set) and
    returns each service's URL: the owner's, with the service's role as the user."""
    url = make_url(owner_url)
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        for service in SERVICES:
            conn.execute(f"ALTER ROLE {role(service)} LOGIN")
    return {
        s: url.set(username=role(s), password=None).render_as_string(hide_password=False) for s in SERVICES
    }
