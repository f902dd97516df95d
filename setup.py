"""Maps the one `cloudwaste` namespace onto the package trees under services/ and dev/.

setuptools' find cannot merge one namespace across several roots, so each
sub-package is mapped to its own directory here; everything else is in pyproject.toml.
`dev/` holds development-only code (the simulated estates, the one-machine launcher): the
service images do not copy it, so they do not ship it.
"""

import pathlib

from setuptools import find_namespace_packages, setup

ROOTS = [
    "dev",
    "services/core",
    "services/scanner",
    "services/enricher",
    "services/exporter",
    "services/predictor",
]

packages, package_dir = [], {}
for root in ROOTS:
    if not pathlib.Path(root).is_dir():  # dev/ is absent from the service images
        continue
    for pkg in find_namespace_packages(where=root, include=["cloudwaste.*"]):
        packages.append(pkg)
        package_dir[pkg] = str(pathlib.Path(root, *pkg.split(".")))

setup(packages=packages, package_dir=package_dir)
