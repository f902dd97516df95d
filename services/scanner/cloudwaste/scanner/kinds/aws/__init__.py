"""AWS resource kinds. Each listing turns one kind's API records of one region into `Resource`s.

A listing receives the provider's connection (`conn.client(service, region)` gives a botocore
client whose calls the provider records) and makes exactly the operations its kind declares.
Every list call goes through a paginator. No rule logic here.
"""

from cloudwaste.scanner.kinds.aws import ec2, elbv2  # noqa: F401  (registers the kinds)
from cloudwaste.scanner.kinds.aws._common import (  # noqa: F401
    ELASTIC_IP,
    INSTANCE,
    LOAD_BALANCER,
    NAT_GATEWAY,
    PROVIDER,
    SNAPSHOT,
    VOLUME,
    stopped_since,
)
