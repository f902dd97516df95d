"""Elastic Container Registry kinds: private repositories with their images."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, utc

REPOSITORY = "aws.ecr.repository"


@kind(
    key=REPOSITORY,
    provider=PROVIDER,
    title="ECR private repository",
    operations=("ecr:DescribeRepositories", "ecr:DescribeImages"),
    id_field="repositoryArn",
    name_field="repositoryName",
    created_field="createdAt",
    ml_config={"image_count": int, "stored_gb": float, "tag_mutability": str, "scan_on_push": bool},
)
def list_repositories(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Repositories (DescribeRepositories, paginated) and, per repository, its images
    (DescribeImages, paginated: ECR has no listing of the images of every repository, so one call
    per repository is unavoidable) with push time, last recorded pull time (ECR refreshes it at
    least once every 24 hours; absent when never pulled) and size. imageSizeInBytes is the
    compressed size of the image; layers shared between images are stored (and billed) once, so
    summed sizes can exceed the billed storage. Tags are not read (one call per repository)."""
    ecr = conn.client("ecr", region)
    out = []
    for repo in paginate(ecr, "describe_repositories", "repositories"):
        images = [
            {
                "pushed_at": utc(i.get("imagePushedAt")),
                "last_pull": utc(i.get("lastRecordedPullTime")),
                "size_bytes": int(i.get("imageSizeInBytes") or 0),
                "tagged": bool(i.get("imageTags")),
            }
            for i in paginate(ecr, "describe_images", "imageDetails", repositoryName=repo["repositoryName"])
        ]
        total = sum(i["size_bytes"] for i in images)
        out.append(
            resource(
                REPOSITORY,
                repo,
                region,
                {},
                created_at=utc(repo.get("createdAt")),
                attributes={
                    "repository_name": repo["repositoryName"],
                    "images": images,
                    "stored_bytes": total,
                },
                config={
                    "image_count": len(images),
                    "stored_gb": round(total / 1024**3, 3),
                    "tag_mutability": repo.get("imageTagMutability", "MUTABLE"),
                    "scan_on_push": bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
                },
            )
        )
    return out
