"""Microsoft 365 resource kinds, one module per area. Importing this package imports every module in it
(a new area is one new module), which registers its kinds."""

import importlib
import pkgutil

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
    importlib.import_module(f"{__name__}.{_module}")
