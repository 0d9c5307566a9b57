"""What the benchmarks do to the package under test before they measure it."""

from __future__ import annotations

import compileall
from pathlib import Path

import scenario_runner


def byte_compile() -> str:
    """Compile ``scenario_runner`` to bytecode, as installing a package does.

    An editable install (``pip install -e``) only gets ``.pyc`` files when the package is
    first imported, and never where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's
    development machines): every run would then compile the package from source (about
    50 ms here), which the libraries the baselines import never do. Returns a line for the
    output saying so.
    """
    package = Path(scenario_runner.__file__).parent
    compileall.compile_dir(package, quiet=1)
    return f"bytecode: {package} compiled to .pyc first, as an installed package is"
