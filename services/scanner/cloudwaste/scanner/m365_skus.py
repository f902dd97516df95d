"""What CloudWaste knows about Microsoft 365 licence SKUs, as pure data (no I/O, no SDK).

SKUs are named by their Graph ``subscribedSkus`` ``skuPartNumber`` (``SPE_E3``, ``ENTERPRISEPACK``,
...); their prices are the table ``data/m365_prices/licenses.json`` (`cloud_prices.CloudPrices("m365")`,
region ``"global"``, path ``license_month/<part number>``).

- `FAMILY` / `family`: a coarse family for ML rows ("other" when unknown).
- `INCLUDES`: suite -> the standalone SKUs whose service the suite already contains, so a user who
  holds both pays twice. Built from the documented one-step entries of `_CONTAINS` and closed
  transitively (SPE_E5 contains SPE_E3, which contains ENTERPRISEPACK, ... so SPE_E5 covers them all).
- `redundant`: for the SKUs one user holds, every (redundant SKU, the suite that already covers it).
- `is_free`: a SKU that costs nothing (free, viral, developer or trial).

The map is deliberately conservative: a SKU is listed under a suite only when Microsoft's service
descriptions / plan comparisons show the suite carries the same (or a higher) plan of every service
the SKU sells. Equivalent SKUs (SMB_BUSINESS and O365_BUSINESS are both "Microsoft 365 Apps for
business") are not listed under each other: the map must stay acyclic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

# --- families ------------------------------------------------------------------------------------------

FAMILY: dict[str, str] = {
    # Microsoft 365 E3 / E5 (Office 365 + EMS + Windows Enterprise)
    "SPE_E3": "microsoft365_enterprise",
    "SPE_E5": "microsoft365_enterprise",
    # Office 365 E1 / E3 / E5
    "STANDARDPACK": "office365_enterprise",
    "ENTERPRISEPACK": "office365_enterprise",
    "ENTERPRISEPREMIUM": "office365_enterprise",
    # frontline: Microsoft 365 F3 (SPE_F1), Microsoft 365 F1 (M365_F1), Office 365 F3 (DESKLESSPACK)
    "SPE_F1": "frontline",
    "M365_F1": "frontline",
    "DESKLESSPACK": "frontline",
    # Microsoft 365 Business Basic / Standard / Premium
    "O365_BUSINESS_ESSENTIALS": "business",
    "O365_BUSINESS_PREMIUM": "business",
    "SPB": "business",
    # desktop Office apps: Apps for business (two SKU variants), Apps for enterprise
    "O365_BUSINESS": "apps",
    "SMB_BUSINESS": "apps",
    "OFFICESUBSCRIPTION": "apps",
    "EXCHANGESTANDARD": "exchange",
    "EXCHANGEENTERPRISE": "exchange",
    "EXCHANGEDESKLESS": "exchange",
    "EXCHANGEARCHIVE_ADDON": "exchange",
    "SHAREPOINTSTANDARD": "sharepoint",
    "SHAREPOINTENTERPRISE": "sharepoint",
    # identity, device management, Defender, compliance
    "EMS": "security",
    "EMSPREMIUM": "security",
    "AAD_PREMIUM": "security",
    "AAD_PREMIUM_P2": "security",
    "INTUNE_A": "security",
    "DEFENDER_ENDPOINT_P1": "security",
    "WIN_DEF_ATP": "security",
    "ATP_ENTERPRISE": "security",
    "THREAT_INTELLIGENCE": "security",
    "ADALLOM_STANDALONE": "security",
    "ATA": "security",
    "IDENTITY_THREAT_PROTECTION": "security",
    "INFORMATION_PROTECTION_COMPLIANCE": "security",
    "WIN10_VDA_E3": "windows",
    "POWER_BI_PRO": "power_bi",
    "POWER_BI_PREMIUM_PER_USER": "power_bi",
    "POWERAPPS_PER_USER": "power_platform",
    "FLOW_PER_USER": "power_platform",
    "VISIOONLINE_PLAN1": "visio",
    "VISIOCLIENT": "visio",
    "PROJECTESSENTIALS": "project",
    "PROJECT_P1": "project",
    "PROJECTPROFESSIONAL": "project",
    "PROJECTPREMIUM": "project",
    # Teams Phone Standard, Audio Conferencing, Teams Enterprise (standalone), Teams Premium
    "MCOEV": "teams",
    "MCOMEETADV": "teams",
    "Microsoft_Teams_Enterprise_New": "teams",
    "Microsoft_Teams_Premium": "teams",
    "Microsoft_365_Copilot": "copilot",
    # no charge: free / viral sign-ups, developer programme, Teams Phone resource accounts
    "TEAMS_EXPLORATORY": "free",
    "FLOW_FREE": "free",
    "POWER_BI_STANDARD": "free",
    "POWERAPPS_VIRAL": "free",
    "POWERAPPS_DEV": "free",
    "PHONESYSTEM_VIRTUALUSER": "free",
    "DEVELOPERPACK_E5": "free",
}


def family(sku_part: str) -> str:
    return FAMILY.get(sku_part, "other")


# --- free SKUs -----------------------------------------------------------------------------------------

# the SKUs the price table lists at 0 (a test keeps the two in step)
FREE: frozenset[str] = frozenset(sku for sku, fam in FAMILY.items() if fam == "free")
_FREE_WORD = re.compile(r"TRIAL|FREE|VIRAL", re.IGNORECASE)


def is_free(sku_part: str, price: Decimal | float | None = None) -> bool:
    """Costs nothing: `price` (when the caller knows it) is 0, a known free SKU, or a part number
    that says so (``*TRIAL*``, ``*FREE*``, ``*VIRAL*``: trials and self-service sign-ups)."""
    if price is not None and Decimal(str(price)) == 0:
        return True
    return sku_part in FREE or bool(_FREE_WORD.search(sku_part))


# --- suites and what they contain ---------------------------------------------------------------------

# One step of containment: suite -> SKUs whose every service the suite carries at the same or a higher
# plan. The basis of each entry is Microsoft's service description / plan comparison named beside it.
_CONTAINS: dict[str, frozenset[str]] = {
    # Exchange Online service description, "Exchange Online plans": Plan 2 = Plan 1 + unlimited
    # archiving (Exchange Online Archiving) and more; Plan 1 is a superset of Kiosk.
    "EXCHANGEENTERPRISE": frozenset({"EXCHANGESTANDARD", "EXCHANGEARCHIVE_ADDON"}),
    "EXCHANGESTANDARD": frozenset({"EXCHANGEDESKLESS"}),
    # SharePoint Online service description: Plan 2 = Plan 1 + eDiscovery/DLP and more.
    "SHAREPOINTENTERPRISE": frozenset({"SHAREPOINTSTANDARD"}),
    # Microsoft 365 Apps service description: Apps for enterprise carries every app and the OneDrive
    # storage of Apps for business (plus shared computer activation, policy management).
    "OFFICESUBSCRIPTION": frozenset({"O365_BUSINESS", "SMB_BUSINESS"}),
    # Office 365 F3 service description: the frontline mailbox is Exchange Online Kiosk.
    "DESKLESSPACK": frozenset({"EXCHANGEDESKLESS"}),
    # Office 365 plan comparison: E1 = Exchange Online Plan 1 + SharePoint Plan 1 + Teams + Office
    # for the web, a superset of Office 365 F3 and of Business Basic (which is E1's services for <=300).
    "STANDARDPACK": frozenset(
        {"EXCHANGESTANDARD", "SHAREPOINTSTANDARD", "DESKLESSPACK", "O365_BUSINESS_ESSENTIALS"}
    ),
    # Office 365 E3 = E1's services at Plan 2 (Exchange Online Plan 2, SharePoint Plan 2) + Microsoft
    # 365 Apps for enterprise. Legacy ENTERPRISEPACK carries Teams, so Teams Enterprise is redundant.
    "ENTERPRISEPACK": frozenset(
        {
            "STANDARDPACK",
            "EXCHANGEENTERPRISE",
            "SHAREPOINTENTERPRISE",
            "OFFICESUBSCRIPTION",
            "Microsoft_Teams_Enterprise_New",
        }
    ),
    # Office 365 E5 = E3 + Teams Phone Standard + Audio Conferencing + Power BI Pro + Defender for
    # Office 365 Plan 2 (which contains Plan 1).
    "ENTERPRISEPREMIUM": frozenset(
        {"ENTERPRISEPACK", "MCOEV", "MCOMEETADV", "POWER_BI_PRO", "THREAT_INTELLIGENCE"}
    ),
    # Defender for Office 365 service description: Plan 2 = Plan 1 + Threat Explorer, AIR, ...
    "THREAT_INTELLIGENCE": frozenset({"ATP_ENTERPRISE"}),
    # Defender for Endpoint: Plan 2 contains every Plan 1 capability.
    "WIN_DEF_ATP": frozenset({"DEFENDER_ENDPOINT_P1"}),
    # Microsoft Entra licensing: P2 = P1 + ID Protection + PIM (the P2 SKU carries the P1 plan).
    "AAD_PREMIUM_P2": frozenset({"AAD_PREMIUM"}),
    # EMS E3 = Entra ID P1 + Intune Plan 1 (+ Azure Information Protection P1).
    "EMS": frozenset({"AAD_PREMIUM", "INTUNE_A"}),
    # EMS E5 = EMS E3 + Entra ID P2 + Defender for Cloud Apps + Defender for Identity.
    "EMSPREMIUM": frozenset({"EMS", "AAD_PREMIUM_P2", "ADALLOM_STANDALONE", "ATA"}),
    # Microsoft 365 E5 Security (the E3 -> E5 security step-up): Entra ID P2, Defender for Endpoint
    # P2, Defender for Identity, Defender for Office 365 P2, Defender for Cloud Apps.
    "IDENTITY_THREAT_PROTECTION": frozenset(
        {"AAD_PREMIUM_P2", "WIN_DEF_ATP", "ATA", "THREAT_INTELLIGENCE", "ADALLOM_STANDALONE"}
    ),
    # Microsoft 365 E3 = Office 365 E3 + EMS E3 + Windows Enterprise E3 (+ Defender for Endpoint
    # Plan 1 since 2022), per the Microsoft 365 Enterprise service description.
    "SPE_E3": frozenset({"ENTERPRISEPACK", "EMS", "WIN10_VDA_E3", "DEFENDER_ENDPOINT_P1"}),
    # Microsoft 365 E5 = Microsoft 365 E3 + Office 365 E5 + EMS E5 + E5 Security + E5 Compliance.
    "SPE_E5": frozenset(
        {
            "SPE_E3",
            "ENTERPRISEPREMIUM",
            "EMSPREMIUM",
            "IDENTITY_THREAT_PROTECTION",
            "INFORMATION_PROTECTION_COMPLIANCE",
        }
    ),
    # Microsoft 365 Business plan comparison: Business Standard = Business Basic + Apps for business.
    "O365_BUSINESS_ESSENTIALS": frozenset({"EXCHANGESTANDARD", "SHAREPOINTSTANDARD"}),
    "O365_BUSINESS_PREMIUM": frozenset({"O365_BUSINESS_ESSENTIALS", "O365_BUSINESS", "SMB_BUSINESS"}),
    # Business Premium = Business Standard + Entra ID P1 + Intune Plan 1 + Defender for Office 365
    # Plan 1 + Exchange Online Archiving.
    "SPB": frozenset(
        {"O365_BUSINESS_PREMIUM", "AAD_PREMIUM", "INTUNE_A", "ATP_ENTERPRISE", "EXCHANGEARCHIVE_ADDON"}
    ),
    # Microsoft 365 F1 = Teams + SharePoint (no mailbox) + Entra ID P1 + Intune Plan 1.
    "M365_F1": frozenset({"AAD_PREMIUM", "INTUNE_A"}),
    # Microsoft 365 F3 = Microsoft 365 F1 + Office 365 F3 (Exchange Kiosk, Office for the web/mobile).
    "SPE_F1": frozenset({"M365_F1", "DESKLESSPACK"}),
    # Power BI licensing: Premium Per User includes every Power BI Pro capability.
    "POWER_BI_PREMIUM_PER_USER": frozenset({"POWER_BI_PRO"}),
    # Visio plan comparison: Plan 2 = Plan 1 + the desktop app.
    "VISIOCLIENT": frozenset({"VISIOONLINE_PLAN1"}),
    # Project plan comparison: Plan 5 > Plan 3 > Plan 1 (each adds to the one below).
    "PROJECTPROFESSIONAL": frozenset({"PROJECT_P1"}),
    "PROJECTPREMIUM": frozenset({"PROJECTPROFESSIONAL"}),
}


def _closure(direct: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    def reach(sku: str, seen: tuple[str, ...]) -> set[str]:
        if sku in seen:
            raise ValueError(f"m365 SKU containment has a cycle: {' -> '.join((*seen, sku))}")
        out: set[str] = set()
        for inner in direct.get(sku, ()):
            out |= {inner, *reach(inner, (*seen, sku))}
        return out

    return {suite: frozenset(reach(suite, ())) for suite in sorted(direct)}


INCLUDES: dict[str, frozenset[str]] = _closure(_CONTAINS)


def redundant(sku_parts: Iterable[str]) -> list[tuple[str, str]]:
    """Every (redundant SKU, the suite that already covers it) among the SKUs one user holds.

    Each redundant SKU appears once, under the largest covering suite (the one that includes the
    most SKUs; ties by name), which the user holds and which is itself never redundant. Sorted by
    the redundant SKU. Unknown SKUs are ignored; duplicates count once."""
    held = set(sku_parts)
    suites = sorted((s for s in held if s in INCLUDES), key=lambda s: (-len(INCLUDES[s]), s))
    out = []
    for sku in sorted(held):
        cover = next((s for s in suites if s != sku and sku in INCLUDES[s]), None)
        if cover is not None:
            out.append((sku, cover))
    return out
