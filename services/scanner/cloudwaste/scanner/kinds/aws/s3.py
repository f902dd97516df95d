"""S3 kinds: buckets, with what the storage-waste rules read (lifecycle, versioning, incomplete
multipart uploads, noncurrent versions).

S3 lists buckets account-wide, but each bucket lives in one region: a region's scope keeps the
buckets of that region only, so that each bucket is reported once per scan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import ClientError
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

BUCKET = "aws.s3.bucket"

# Incomplete multipart uploads are sized (ListParts, one paginated call per upload) only when
# they are at least this old: the minimum of `s3-bucket-incomplete-multipart-uploads`'
# `min_age_days`, so a younger upload can never matter to it. At most this many uploads are
# sized per bucket, oldest first; beyond that the size is a lower bound (and says so).
SIZE_UPLOADS_OLDER_THAN_DAYS = 1.0
MAX_SIZED_UPLOADS = 100
# Noncurrent versions are measured with ListObjectVersions (1,000 versions a page) for versioned
# buckets whose lifecycle does not already expire or transition them, at most this many pages a
# bucket (100,000 versions): a bigger bucket's measure is a lower bound (and says so). A listing
# cannot read rule parameters, so the cap is a constant of the kind.
MAX_VERSION_PAGES = 100

_NO_LIFECYCLE = "NoSuchLifecycleConfiguration"


def _region_of(location: str | None) -> str:
    """GetBucketLocation's LocationConstraint as a region: empty means us-east-1, "EU" eu-west-1."""
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else location


def _rule_prefix(rule: dict) -> str | None:
    """The key prefix an enabled lifecycle rule applies to ("" = the whole bucket), or None when
    it is disabled or filters on tags or sizes (which incomplete uploads and a version listing
    cannot be matched against: such a rule is not counted)."""
    if rule.get("Status") != "Enabled":
        return None
    if "Prefix" in rule and "Filter" not in rule:  # the legacy form
        return rule.get("Prefix") or ""
    flt = rule.get("Filter") or {}
    if not flt:
        return ""
    if set(flt) <= {"Prefix"}:
        return flt.get("Prefix") or ""
    return None


def _lifecycle_prefixes(rules: list[dict]) -> dict[str, list[str]]:
    """Prefixes covered by enabled rules that abort incomplete uploads, and by enabled rules that
    expire or transition noncurrent versions."""
    out: dict[str, list[str]] = {"abort": [], "noncurrent": []}
    for r in rules:
        prefix = _rule_prefix(r)
        if prefix is None:
            continue
        if (r.get("AbortIncompleteMultipartUpload") or {}).get("DaysAfterInitiation") is not None:
            out["abort"].append(prefix)
        if r.get("NoncurrentVersionExpiration") or r.get("NoncurrentVersionTransitions"):
            out["noncurrent"].append(prefix)
    return out


def _covered(key: str, prefixes: list[str]) -> bool:
    return any(key.startswith(p) for p in prefixes)


def _lifecycle_rules(s3, bucket: str) -> list[dict]:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == _NO_LIFECYCLE:
            return []
        raise


def _uploads(s3, bucket: str, abort_prefixes: list[str], now: dt.datetime) -> dict[str, Any]:
    """The bucket's incomplete uploads not covered by an abort rule: each one's start time and,
    for the oldest ones, the bytes of its parts."""
    records = sorted(
        (u for u in paginate(s3, "list_multipart_uploads", "Uploads", Bucket=bucket)),
        key=lambda u: u.get("Initiated") or now,
    )
    uploads = []
    sized = 0
    covered = 0
    for u in records:
        if _covered(u.get("Key", ""), abort_prefixes):
            covered += 1
            continue
        started = u.get("Initiated")
        size = None
        old = started is not None and (now - started).total_seconds() >= SIZE_UPLOADS_OLDER_THAN_DAYS * 86400
        if old and sized < MAX_SIZED_UPLOADS:
            parts = paginate(s3, "list_parts", "Parts", Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
            size = sum(int(p.get("Size", 0)) for p in parts)
            sized += 1
        uploads.append({"initiated": started, "size_bytes": size})
    return {"uploads": uploads, "uploads_aborted_by_lifecycle": covered}


def _noncurrent(s3, bucket: str, prefixes: list[str]) -> dict[str, Any]:
    """Bytes and count of noncurrent versions not covered by a noncurrent lifecycle rule, from at
    most MAX_VERSION_PAGES pages of ListObjectVersions."""
    size = standard = count = pages = 0
    truncated = False
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        pages += 1
        for v in page.get("Versions", []):
            if not v.get("IsLatest") and not _covered(v.get("Key", ""), prefixes):
                size += int(v.get("Size", 0))
                standard += int(v.get("Size", 0)) if v.get("StorageClass", "STANDARD") == "STANDARD" else 0
                count += 1
        if pages >= MAX_VERSION_PAGES and page.get("IsTruncated"):
            truncated = True
            break
    return {
        "noncurrent_bytes": size,
        "noncurrent_standard_bytes": standard,
        "noncurrent_versions": count,
        "version_pages_read": pages,
        "noncurrent_truncated": truncated,
    }


_UNKNOWN_VERSIONS = {
    "noncurrent_bytes": None,
    "noncurrent_standard_bytes": None,
    "noncurrent_versions": None,
    "version_pages_read": 0,
    "noncurrent_truncated": False,
}


def _details(s3, name: str, now: dt.datetime) -> dict[str, Any]:
    """What the rules read of one bucket: versioning, lifecycle, uploads, noncurrent versions."""
    versioning = s3.get_bucket_versioning(Bucket=name).get("Status") or "Disabled"
    rules = _lifecycle_rules(s3, name)
    prefixes = _lifecycle_prefixes(rules)
    attributes: dict[str, Any] = {
        "versioning": versioning,
        "lifecycle_rule_count": len(rules),
        "abort_rule_whole_bucket": "" in prefixes["abort"],
        "noncurrent_rule_whole_bucket": "" in prefixes["noncurrent"],
        "noncurrent_rule_prefix_count": len([p for p in prefixes["noncurrent"] if p]),
        "access_denied": False,
        **_uploads(s3, name, prefixes["abort"], now),
    }
    if versioning in ("Enabled", "Suspended") and "" not in prefixes["noncurrent"]:
        attributes |= _noncurrent(s3, name, prefixes["noncurrent"])
    else:
        attributes |= _UNKNOWN_VERSIONS
    return attributes


@kind(
    key=BUCKET,
    provider=PROVIDER,
    title="S3 bucket",
    operations=(
        "s3:ListAllMyBuckets",
        "s3:GetBucketLocation",
        "s3:GetBucketVersioning",
        "s3:GetLifecycleConfiguration",
        "s3:ListBucketMultipartUploads",
        "s3:ListMultipartUploadParts",
        "s3:ListBucketVersions",
    ),
    id_field="Name",
    name_field="Name",
    created_field="CreationDate",
    ml_config={
        "versioning": str,
        "has_lifecycle": bool,
        "incomplete_upload_count": int,
        "noncurrent_version_count": int,
    },
)
def list_buckets(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Buckets of this region: ListBuckets (paginated) asked for this region's buckets
    (`BucketRegion`); a bucket whose record does not say its region (an endpoint that ignores the
    filter) is placed with GetBucketLocation, one call per bucket. Then, S3 having no account-wide
    view of these, per bucket: GetBucketVersioning, GetBucketLifecycleConfiguration (a
    NoSuchLifecycleConfiguration error means none), ListMultipartUploads (paginated), ListParts per
    incomplete upload older than a day that no lifecycle rule aborts (at most 100 a bucket), and,
    for a versioned bucket whose lifecycle neither expires nor transitions noncurrent versions,
    ListObjectVersions (at most 100 pages: a lower bound beyond 100,000 versions). A bucket whose
    policy denies these reads is listed with `access_denied` and nothing known of its contents;
    one deleted meanwhile is left out."""
    s3 = conn.client("s3", region)
    out = []
    for b in paginate(s3, "list_buckets", "Buckets", BucketRegion=region):
        name = b["Name"]
        where = b.get("BucketRegion") or _region_of(
            s3.get_bucket_location(Bucket=name).get("LocationConstraint")
        )
        if where != region:
            continue
        try:
            attributes = _details(s3, name, now)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "NoSuchBucket":  # deleted since ListBuckets
                continue
            if code != "AccessDenied":
                raise
            # a bucket policy denies the scanner: listed, but nothing is known of its contents
            attributes = {**_UNKNOWN_VERSIONS, "versioning": "Unknown", "lifecycle_rule_count": 0}
            attributes |= {"uploads": [], "uploads_aborted_by_lifecycle": 0, "access_denied": True}
        versioning = attributes["versioning"]
        out.append(
            resource(
                BUCKET,
                b,
                region,
                {},  # tags would be one GetBucketTagging call per bucket: not read
                attributes=attributes,
                config={
                    "versioning": versioning,
                    "has_lifecycle": bool(attributes["lifecycle_rule_count"]),
                    "incomplete_upload_count": len(attributes["uploads"]),
                    "noncurrent_version_count": attributes["noncurrent_versions"] or 0,
                },
            )
        )
    return out
