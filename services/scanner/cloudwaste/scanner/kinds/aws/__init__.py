"""AWS resource kinds. Each listing turns one kind's API records of one region into `Resource`s.

A listing receives the provider's connection (`conn.client(service, region)` gives a botocore
client whose calls the provider records) and makes exactly the operations its kind declares.
Every list call goes through a paginator. No rule logic here. Importing this package imports
every module in it (a new service is one new module), which registers its kinds.

Global services (Route 53, IAM, ...) are listed in `GLOBAL_REGION` only, so that a scan of
several regions reports each global resource once.
"""

import importlib
import pkgutil

from cloudwaste.scanner.kinds.aws._common import (  # noqa: F401
    ELASTIC_IP,
    GLOBAL_REGION,
    INSTANCE,
    LOAD_BALANCER,
    NAT_GATEWAY,
    PROVIDER,
    SNAPSHOT,
    VOLUME,
    stopped_since,
)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
