"""S3 storage rules: incomplete multipart uploads and noncurrent versions nothing cleans up.

The two rules look at different bytes of a bucket (the parts of unfinished uploads; the old
versions of objects), each with its own cost and its own fix (a lifecycle rule), so one bucket can
carry both findings without counting a dollar twice.
"""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded

BUCKET = "aws.s3.bucket"
GB = 1024**3
MB = 1024**2
_PERMISSIONS = (
    "s3:GetBucketLocation",
    "s3:GetBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:ListAllMyBuckets",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
    "s3:ListMultipartUploadParts",
)


def _price(gb: float, ctx: Context, evidence: dict) -> Decimal:
    evidence.update(ctx.prices.evidence())
    cost = ctx.prices.s3_standard(round(gb, 6))
    if cost is None:
        evidence["price"] = "unknown S3 Standard price: priced at 0"
        return Decimal(0)
    return cost


# --- s3-bucket-incomplete-multipart-uploads -------------------------------------------------------


@rule(
    key="s3-bucket-incomplete-multipart-uploads",
    provider="aws",
    resource_kind=BUCKET,
    title="S3 bucket keeping the parts of abandoned multipart uploads",
    permissions=_PERMISSIONS,
    params={
        "min_age_days": Param(float, 7.0, "An upload started at least this long ago is abandoned.", 1),
        "min_size_mb": Param(
            float, 1.0, "The stale uploads' parts must add up to at least this many MiB.", 0
        ),
    },
    confidence_doc="HIGH when every stale upload was sized; MEDIUM when some were not (more than the "
    "listing sizes per bucket: the size and cost are then a lower bound).",
)
def s3_bucket_incomplete_multipart_uploads(r: Resource, p, ctx: Context) -> Detection | None:
    """Parts of a multipart upload that was never completed nor aborted are stored, and billed,
    until someone aborts the upload; S3 shows them in no object listing. A bucket fires when it
    holds uploads started at least 7 days ago (AWS's own recommendation for the
    AbortIncompleteMultipartUpload lifecycle action is 7 days) that no enabled lifecycle rule
    aborts, whose parts add up to at least `min_size_mb`. The size comes from ListParts (made by
    the listing for uploads older than a day, at most 100 a bucket, oldest first): beyond that the
    size is a lower bound and the finding says so. Priced as S3 Standard storage (parts are stored
    in the upload's storage class, usually Standard)."""
    uploads = [
        u
        for u in r.attributes.get("uploads") or []
        if (age := age_days(u.get("initiated"), ctx.now)) is not None and age >= p["min_age_days"]
    ]
    if not uploads:
        return None
    known = [u["size_bytes"] for u in uploads if u.get("size_bytes") is not None]
    unsized = len(uploads) - len(known)
    size = sum(known)
    if size < p["min_size_mb"] * MB and not unsized:
        return None
    oldest = min(u["initiated"] for u in uploads)
    gb = size / GB
    evidence = {
        "stale_uploads": len(uploads),
        "sized_uploads": len(known),
        "stale_bytes": size,
        "stale_gb": round(gb, 3),
        "oldest_upload_age_days": rounded(age_days(oldest, ctx.now)),
        "min_age_days": p["min_age_days"],
        "uploads_aborted_by_lifecycle": r.attributes.get("uploads_aborted_by_lifecycle", 0),
        "lifecycle_rule_count": r.attributes.get("lifecycle_rule_count", 0),
    }
    if unsized:
        evidence["size"] = f"lower bound: {unsized} stale uploads were not sized (ListParts cap)"
    return Detection(
        scenario="s3-bucket-incomplete-multipart-uploads",
        confidence="MEDIUM" if unsized else "HIGH",
        monthly_cost=_price(gb, ctx, evidence),
        evidence=evidence,
    )


# --- s3-bucket-noncurrent-versions-without-lifecycle ----------------------------------------------


@rule(
    key="s3-bucket-noncurrent-versions-without-lifecycle",
    provider="aws",
    resource_kind=BUCKET,
    title="Versioned S3 bucket keeping noncurrent versions forever",
    permissions=_PERMISSIONS,
    params={
        "min_noncurrent_gb": Param(
            float, 10.0, "Noncurrent versions no lifecycle rule handles add up to at least this many GiB.", 0
        ),
    },
    confidence_doc="HIGH when every version of the bucket was listed; MEDIUM when the listing stopped "
    "at its page cap (the measured bytes are then a lower bound).",
)
def s3_bucket_noncurrent_versions_without_lifecycle(r: Resource, p, ctx: Context) -> Detection | None:
    """With versioning on, every overwrite or delete keeps the old object as a noncurrent version,
    billed like any object, forever unless a lifecycle rule expires (NoncurrentVersionExpiration)
    or transitions them. A versioned (or suspended) bucket fires when no enabled lifecycle rule
    over the whole bucket does either, and its noncurrent versions outside the prefixes of such
    rules add up to at least 10 GiB (under that the waste is below $0.25 a month: common FinOps
    practice is not to chase it).

    Measured, not estimated: the listing sums the noncurrent versions' sizes with
    ListObjectVersions (paginated, per bucket, at most 100 pages = 100,000 versions; a bigger
    bucket gives a lower bound, and says so). CloudWatch's daily BucketSizeBytes has no
    noncurrent breakdown (only S3 Storage Lens has one), so it cannot tell this waste from live
    data. Noncurrent bytes in the Standard class are priced as S3 Standard; bytes in other
    classes are counted but not priced (the cost is then a lower bound)."""
    if r.attributes.get("versioning") not in ("Enabled", "Suspended"):
        return None
    if r.attributes.get("noncurrent_rule_whole_bucket"):
        return None
    size = r.attributes.get("noncurrent_bytes")
    if size is None or size < p["min_noncurrent_gb"] * GB:
        return None
    standard = r.attributes.get("noncurrent_standard_bytes")
    standard = size if standard is None else standard
    truncated = bool(r.attributes.get("noncurrent_truncated"))
    evidence = {
        "versioning": r.attributes.get("versioning"),
        "noncurrent_versions": r.attributes.get("noncurrent_versions"),
        "noncurrent_bytes": size,
        "noncurrent_gb": round(size / GB, 3),
        "noncurrent_standard_gb": round(standard / GB, 3),
        "version_pages_read": r.attributes.get("version_pages_read"),
        "lifecycle_rule_count": r.attributes.get("lifecycle_rule_count", 0),
        "prefix_scoped_noncurrent_rules": r.attributes.get("noncurrent_rule_prefix_count", 0),
        "measured_with": "ListObjectVersions",
    }
    if truncated:
        evidence["size"] = "lower bound: the version listing stopped at its page cap"
    if standard < size:
        evidence["price_scope"] = "only the Standard-class bytes are priced"
    return Detection(
        scenario="s3-bucket-noncurrent-versions-without-lifecycle",
        confidence="MEDIUM" if truncated else "HIGH",
        monthly_cost=_price(standard / GB, ctx, evidence),
        evidence=evidence,
    )


# --- fixtures -------------------------------------------------------------------------------------

_NO_VERSIONS = {
    "versioning": "Disabled",
    "noncurrent_bytes": None,
    "noncurrent_standard_bytes": None,
    "noncurrent_versions": None,
    "noncurrent_truncated": False,
    "noncurrent_rule_whole_bucket": False,
}
attach_fixtures(
    "s3-bucket-incomplete-multipart-uploads",
    Fixtures(
        fires=res(
            BUCKET,
            "logs-upload",
            400,
            uploads=[{"initiated": days_ago(40), "size_bytes": 6 * GB}],
            lifecycle_rule_count=0,
            **_NO_VERSIONS,
        ),
        silent=res(  # uploads 6.9 days old: not yet abandoned
            BUCKET,
            "fresh-upload",
            400,
            uploads=[{"initiated": days_ago(6.9), "size_bytes": 6 * GB}],
            lifecycle_rule_count=0,
            **_NO_VERSIONS,
        ),
        now=_NOW,
    ),
)
_VERSIONED = {
    "versioning": "Enabled",
    "uploads": [],
    "noncurrent_standard_bytes": None,
    "noncurrent_truncated": False,
    "noncurrent_rule_whole_bucket": False,
    "lifecycle_rule_count": 0,
}
attach_fixtures(
    "s3-bucket-noncurrent-versions-without-lifecycle",
    Fixtures(
        fires=res(
            BUCKET, "versioned-big", 400, noncurrent_bytes=40 * GB, noncurrent_versions=900, **_VERSIONED
        ),
        silent=res(  # just under 10 GiB of noncurrent versions
            BUCKET, "versioned-small", 400, noncurrent_bytes=10 * GB - 1, noncurrent_versions=90, **_VERSIONED
        ),
        now=_NOW,
    ),
)
