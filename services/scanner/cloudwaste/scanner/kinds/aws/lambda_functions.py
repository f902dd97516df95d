"""AWS Lambda kinds: provisioned concurrency configurations (one per function version or alias)."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, utc

PROVISIONED_CONCURRENCY = "aws.lambda.provisioned_concurrency"


@kind(
    key=PROVISIONED_CONCURRENCY,
    provider=PROVIDER,
    title="Lambda provisioned concurrency configuration (of a function version or alias)",
    operations=("lambda:ListFunctions", "lambda:ListProvisionedConcurrencyConfigs"),
    id_field="FunctionArn",
    name_field="FunctionArn",
    created_field="LastModified",
    ml_config={"requested_concurrency": int, "allocated_concurrency": int, "memory_mb": int, "runtime": str},
)
def list_provisioned_concurrency(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Every provisioned concurrency configuration of the region's functions: the qualified ARN
    (function:version or function:alias) is the id, the configuration's LastModified its creation
    time (when the concurrency was last set: its age is how long it has been billed as it is).

    Lambda has no account-wide listing of provisioned concurrency: after ListFunctions (paginated),
    one ListProvisionedConcurrencyConfigs (paginated) per function is unavoidable; a region without
    functions makes one call. The memory is the function's $LATEST memory (ListFunctions without
    FunctionVersion=ALL): a published version configured with other memory is priced at $LATEST's.
    Tags are not read (one call per function)."""
    client = conn.client("lambda", region)
    out = []
    for fn in paginate(client, "list_functions", "Functions"):
        name = fn["FunctionName"]
        for cfg in paginate(
            client, "list_provisioned_concurrency_configs", "ProvisionedConcurrencyConfigs", FunctionName=name
        ):
            arn = cfg["FunctionArn"]
            qualifier = arn.rsplit(":", 1)[-1] if arn.count(":") >= 7 else "$LATEST"
            requested = int(cfg.get("RequestedProvisionedConcurrentExecutions") or 0)
            allocated = int(cfg.get("AllocatedProvisionedConcurrentExecutions") or 0)
            memory = int(fn.get("MemorySize") or 128)
            out.append(
                Resource(
                    provider=PROVIDER,
                    kind=PROVISIONED_CONCURRENCY,
                    resource_id=arn,
                    region=region,
                    name=f"{name}:{qualifier}",
                    created_at=utc(cfg.get("LastModified")),
                    attributes={
                        "function_name": name,
                        "qualifier": qualifier,
                        # the value of CloudWatch's "Resource" dimension for a version or alias
                        "metric_resource": f"{name}:{qualifier}",
                        "requested_concurrency": requested,
                        "allocated_concurrency": allocated,
                        "status": cfg.get("Status"),
                        "memory_mb": memory,
                    },
                    config={
                        "requested_concurrency": requested,
                        "allocated_concurrency": allocated,
                        "memory_mb": memory,
                        "runtime": fn.get("Runtime") or fn.get("PackageType") or "",
                    },
                )
            )
    return out
