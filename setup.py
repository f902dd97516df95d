"""Maps the one `cloudwaste` namespace onto the five package trees under services/.

setuptools' find cannot merge one namespace across several roots, so each
sub-package is mapped to its own directory here; everything else is in pyproject.toml.
"""

import pathlib

from setuptools import find_namespace_packages, setup

ROOTS = ["services/core", "services/scanner", "services/enricher", "services/exporter", "services/predictor"]

packages, package_dir = [], {}
for root in ROOTS:
    for pkg in find_namespace_packages(where=root, include=["cloudwaste.*"]):
        packages.append(pkg)
        package_dir[pkg] = str(pathlib.Path(root, *pkg.split(".")))

setup(packages=packages, package_dir=package_dir)
