"""Realistic tags and simulated user decisions, shared by every simulated cloud.

Everything here is a pure function of a ``random.Random``: the same draws give the same tags and
decisions, which is what makes a seeded estate reproducible.

Tags deliberately contain personal data (e-mail addresses in ``owner``, some ``Name`` and
``notes`` values, private IP addresses in some names): privacy tests use them to check that the
product redacts what it exports.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .truth import DECISIONS

FIRST_NAMES = (
    "jane", "john", "maria", "wei", "arjun", "fatima", "lukas", "sofia", "kenji", "olga",
    "carlos", "amara", "liam", "noah", "emma", "chloe", "raj", "mei", "omar", "ines",
)  # fmt: skip
LAST_NAMES = (
    "doe", "smith", "garcia", "chen", "patel", "khan", "muller", "rossi", "tanaka", "ivanova",
    "silva", "okafor", "brown", "nguyen", "kim", "haddad", "dubois", "costa",
)  # fmt: skip
TEAMS = (
    "platform", "payments", "data", "ml", "search", "growth", "identity", "mobile", "web",
    "infra", "analytics", "security",
)  # fmt: skip
#: Each team's usual cost centre; resources sometimes carry another one (mis-tagging is real).
TEAM_COST_CENTERS = {team: f"CC-{1000 + 37 * i}" for i, team in enumerate(TEAMS)}

#: Raw ``environment`` tag values with their weights. Spelling varies on purpose.
ENVIRONMENT_VALUES: tuple[tuple[str, float], ...] = (
    ("prod", 0.20), ("production", 0.09), ("Prod", 0.05),
    ("staging", 0.12), ("qa", 0.06),
    ("test", 0.10), ("dev", 0.17), ("development", 0.08), ("sandbox", 0.13),
)  # fmt: skip

#: environment value (lower-cased) -> one of "prod", "staging", "dev".
ENVIRONMENT_CLASS = {
    "prod": "prod", "production": "prod",
    "staging": "staging", "qa": "staging",
    "test": "dev", "dev": "dev", "development": "dev", "sandbox": "dev",
}  # fmt: skip
_ENV_SHORT = {
    "prod": "prod", "production": "prod", "staging": "stg", "qa": "qa",
    "test": "test", "dev": "dev", "development": "dev", "sandbox": "sbx",
}  # fmt: skip

_CRITICALITY_WEIGHTS = {"prod": (0.50, 0.35, 0.15), "staging": (0.15, 0.50, 0.35), "dev": (0.05, 0.30, 0.65)}
_BACKUP_REQUIRED = {"prod": 0.70, "staging": 0.35, "dev": 0.12}

#: Name roles per kind of resource (the keys are the generator's own kind names).
ROLES: dict[str, tuple[str, ...]] = {
    "instance": ("web", "api", "worker", "batch", "db", "cache", "etl", "jenkins", "bastion", "kafka"),
    "volume": ("data", "logs", "db", "scratch", "build-cache", "backup", "export"),
    "snapshot": ("db-backup", "pre-upgrade", "ami-build", "nightly", "migration", "golden"),
    "elastic_ip": ("vpn", "smtp-relay", "bastion", "partner-allowlist", "legacy-ftp", "ingress"),
    "nat_gateway": ("egress", "private-egress", "nat"),
    "load_balancer": ("public", "internal", "api", "admin", "canary"),
}

_NOTES = (
    "ticket OPS-{n}: keep until Q{q} migration",
    "ask {email} before deleting",
    "legacy, probably safe to remove",
    "restored from backup on 20{yy}-0{q}-1{q}",
    "do not delete - audit hold",
    "created by terraform",
    "temporary for load test, host {ip}",
    "owner left the company, see {email}",
)

_KEEP_WORDS = ("keep", "do not delete", "audit hold")


def environment_class(value: str) -> str:
    """Normalise an ``environment`` tag value to ``prod``, ``staging`` or ``dev``."""
    return ENVIRONMENT_CLASS.get(value.strip().lower(), "dev")


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def _email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}@example.com"


def _private_ip(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"192.168.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def _name(rng: random.Random, kind: str, env: str, team: str, owner: str) -> str:
    # kinds without roles of their own (a database, a cache, a queue) are named after the kind
    role = rng.choice(
        ROLES.get(kind) or (kind.replace("_", "-"), f"{kind.replace('_', '-')}-main", "legacy", "shared")
    )
    short = _ENV_SHORT[env.lower()]
    n = rng.randint(1, 24)
    u = rng.random()
    if u < 0.55:
        return f"{role}-{short}-{n:02d}"
    if u < 0.75:
        return f"{team}-{role}-{short}"
    if u < 0.85:
        what = {"volume": "scratch disk", "snapshot": "copy", "instance": "test box"}.get(kind, role)
        return f"{owner} {what}"
    if u < 0.95:
        return f"{role} {short} {_private_ip(rng)}"
    return f"tmp-{owner.split('@')[0]}-{role}"


def draw_tags(rng: random.Random, kind: str) -> dict[str, str]:
    """Draw a realistic tag set for a resource of ``kind`` (a key of :data:`ROLES`, or any other
    word: the Name then uses the kind itself as the role).

    Always sets Name, environment, owner, team, cost-center, criticality and backup; sets a
    free-text ``notes`` tag about one time in six.
    """
    env = _weighted(rng, ENVIRONMENT_VALUES)
    env_class = environment_class(env)
    team = rng.choice(TEAMS)
    owner = _email(rng)
    cost_center = (
        TEAM_COST_CENTERS[team] if rng.random() < 0.85 else rng.choice(list(TEAM_COST_CENTERS.values()))
    )
    criticality = rng.choices(("high", "medium", "low"), weights=_CRITICALITY_WEIGHTS[env_class], k=1)[0]
    backup = "required" if rng.random() < _BACKUP_REQUIRED[env_class] else "none"
    tags = {
        "Name": _name(rng, kind, env, team, owner),
        "environment": env,
        "owner": owner,
        "team": team,
        "cost-center": cost_center,
        "criticality": criticality,
        "backup": backup,
    }
    if rng.random() < 1 / 6:
        tags["notes"] = rng.choice(_NOTES).format(
            n=rng.randint(100, 9999),
            q=rng.randint(1, 4),
            yy=rng.randint(19, 24),
            email=_email(rng),
            ip=_private_ip(rng),
        )
    return tags


@dataclass(frozen=True)
class DecisionModel:
    """A noisy model of what a user does with a waste finding.

    A logistic score of "delete" is built mostly from what the tags say (environment,
    criticality, backup policy, a "keep" note), then age and monthly cost, and only a little from
    the scenario; a share of findings is ignored (more when the score is ambiguous); finally
    ``noise`` of the decisions are replaced by a uniformly random one. So rule confidence alone
    (which depends on the scenario) is a weak predictor, tags + age + cost a better one, and no
    model can be perfect.
    """

    noise: float = 0.12
    base_ignore: float = 0.07
    ambiguous_ignore: float = 0.18

    ENV_WEIGHT = {"prod": -1.6, "staging": 0.2, "dev": 1.4}
    CRITICALITY_WEIGHT = {"high": -1.3, "medium": -0.2, "low": 0.7}
    SCENARIO_WEIGHT = {
        "ebs-volume-unattached": 0.1,
        "eip-unassociated": 0.2,
        "ec2-instance-stopped": -0.3,
        "snapshot-orphaned": 0.2,
        "nat-gateway-idle": -0.1,
        "load-balancer-no-targets": 0.0,
        # A disk of a stopped machine: kept a little more often than a loose one (restarts happen).
        "ebs-volume-on-stopped-instance": -0.1,
    }

    def score(
        self, *, tags: dict[str, str], scenario: str, age_days: float | None, monthly_cost: float
    ) -> float:
        """The log-odds of "deleted" versus "kept" before ignoring and noise."""
        s = self.ENV_WEIGHT[environment_class(tags.get("environment", "dev"))]
        s += self.CRITICALITY_WEIGHT.get(tags.get("criticality", "medium"), 0.0)
        if tags.get("backup") == "required":
            s -= 0.9
        notes = tags.get("notes", "").lower()
        if any(word in notes for word in _KEEP_WORDS):
            s -= 1.0
        if age_days is not None:
            # Old findings are stale: ~-0.8 at a few days, 0 at 90 days, ~+0.8 after a year.
            s += 0.9 * math.tanh((age_days - 90.0) / 120.0)
        # Cheap things are deleted without a second thought; expensive ones get argued about.
        s -= 0.45 * math.log10(max(monthly_cost, 0.5) / 20.0)
        s += self.SCENARIO_WEIGHT.get(scenario, 0.0)
        return s

    def draw(
        self,
        rng: random.Random,
        *,
        tags: dict[str, str],
        scenario: str,
        age_days: float | None,
        monthly_cost: float,
    ) -> str:
        """Draw ``deleted``, ``kept`` or ``ignored``. Always consumes the same number of draws."""
        s = self.score(tags=tags, scenario=scenario, age_days=age_days, monthly_cost=monthly_cost)
        p_delete = 1.0 / (1.0 + math.exp(-s))
        p_ignore = self.base_ignore + self.ambiguous_ignore * math.exp(-(s * s) / 2.0)
        u_ignore, u_delete, u_noise, u_pick = rng.random(), rng.random(), rng.random(), rng.random()
        if u_ignore < p_ignore:
            decision = "ignored"
        elif u_delete < p_delete:
            decision = "deleted"
        else:
            decision = "kept"
        if u_noise < self.noise:
            decision = DECISIONS[int(u_pick * len(DECISIONS)) % len(DECISIONS)]
        return decision
