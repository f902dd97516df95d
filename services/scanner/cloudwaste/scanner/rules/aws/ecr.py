"""Elastic Container Registry rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded

KIND = "aws.ecr.repository"
GB = 1024**3


def current_images(images: list[dict]) -> list[dict]:
    """The images a deployment may still run whatever their pull time: the newest pushed image,
    and the newest pushed of the tagged ones (the image the last tag push points to); every image
    pushed at that same time counts (ties)."""
    out: list[dict] = []
    for pool in (images, [i for i in images if i.get("tagged")]):
        times = [i["pushed_at"] for i in pool if i.get("pushed_at") is not None]
        if times:
            newest = max(times)
            out += [i for i in pool if i.get("pushed_at") == newest and all(i is not o for o in out)]
    return out


def stale_images(r: Resource, min_days: float, ctx: Context) -> list[dict]:
    """Images neither pulled nor pushed over the last `min_days` days: the last recorded pull is
    older, or there is none and the push is older. An image without a push time is never stale,
    nor is a current image (`current_images`): a long-running ECS task or Kubernetes pod pulled it
    once, when it started, and runs it still without pulling again."""
    images = r.attributes.get("images") or []
    current = current_images(images)
    out = []
    for image in images:
        if any(image is c for c in current):
            continue
        last = image.get("last_pull") or image.get("pushed_at")
        idle = age_days(last, ctx.now)
        if idle is not None and idle >= min_days:
            out.append(image)
    return out


@rule(
    key="ecr-repository-images-not-pulled",
    provider="aws",
    resource_kind=KIND,
    title="ECR repository storing images nobody pulled for a long time",
    permissions=("ecr:DescribeRepositories", "ecr:DescribeImages"),
    params={
        "min_idle_days": Param(
            float, 90.0, "An image not pulled (nor pushed) for this many days is stale.", 1
        ),
        "min_stale_gb": Param(float, 1.0, "The stale images weigh at least this many GB together.", 0),
    },
    confidence_doc="HIGH when every stale image is untagged and was pulled at least once (ECR recorded "
    "its last pull); MEDIUM when some were never pulled (pushed and never used, or pulled before ECR "
    "recorded pulls) or some are tagged (a tag may still be pinned by a deployment, a rollback plan or "
    "another account, which ECR does not show).",
)
def ecr_repository_images_not_pulled(r: Resource, p, ctx: Context) -> Detection | None:
    """Images whose last recorded pull (or, never pulled, their push) is older than 90 days are
    kept for nothing: no deployment uses them. ECR bills their storage by the GB-month; deleting
    them (or a lifecycle policy that expires them) saves their size x the ECR storage price. Fires
    for a repository whose stale images weigh at least 1 GB together. The 90-day default is common
    FinOps practice (the span Trusted Advisor and Steampipe Thrifty use for unused resources).
    The repository's newest pushed image, and the newest of its tagged images, are never counted
    stale: a long-running ECS service or Kubernetes deployment pulled its image once, months ago,
    and still runs it (ECR records pulls, not use). imageSizeInBytes is each image's compressed size; layers shared between images are stored
    once, so the saving can be lower when stale images share layers with live ones."""
    stale = stale_images(r, p["min_idle_days"], ctx)
    stale_bytes = sum(i.get("size_bytes") or 0 for i in stale)
    if not stale or stale_bytes / GB < p["min_stale_gb"] or stale_bytes <= 0:
        return None
    gb = stale_bytes / GB
    price = ctx.prices.ecr_storage(round(gb, 6))
    never = sum(1 for i in stale if not i.get("last_pull"))
    tagged = sum(1 for i in stale if i.get("tagged"))
    images = r.attributes.get("images") or []
    oldest = max((age_days(i.get("last_pull") or i.get("pushed_at"), ctx.now) or 0.0) for i in stale)
    evidence = {
        "stale_image_count": len(stale),
        "stale_never_pulled_count": never,
        "stale_tagged_count": tagged,
        "image_count": len(images),
        "stale_gb": round(gb, 3),
        "stored_gb": round(sum(i.get("size_bytes") or 0 for i in images) / GB, 3),
        "min_idle_days": p["min_idle_days"],
        "longest_idle_days": rounded(oldest),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "unknown ECR storage price: priced at 0"
    return Detection(
        scenario="ecr-repository-images-not-pulled",
        confidence="MEDIUM" if never or tagged else "HIGH",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _image(pushed: float, pulled: float | None, gb: float) -> dict:
    return {
        "pushed_at": days_ago(pushed),
        "last_pull": None if pulled is None else days_ago(pulled),
        "size_bytes": int(gb * GB),
        "tagged": True,
    }


_ARN = "arn:aws:ecr:eu-west-1:123456789012:repository/"
attach_fixtures(
    "ecr-repository-images-not-pulled",
    Fixtures(
        fires=res(
            KIND,
            _ARN + "legacy-api",
            500,
            repository_name="legacy-api",
            images=[_image(400, 200, 2.0), _image(300, None, 1.5), _image(20, 1, 1.0)],
        ),
        silent=res(
            KIND,
            _ARN + "live-api",
            500,
            repository_name="live-api",
            images=[_image(400, 3, 2.0), _image(300, 89, 1.5), _image(20, None, 1.0)],
        ),
        now=_NOW,
    ),
)
