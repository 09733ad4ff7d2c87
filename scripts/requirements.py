"""Prints the project's requirements from pyproject.toml, one a line, for pip.

`main` prints the run-time dependencies, `dev` the test and tooling ones.
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())["project"]
group = sys.argv[1] if len(sys.argv) > 1 else "main"
requirements = (
    project["dependencies"] if group == "main" else project["optional-dependencies"][group]
)
print("\n".join(requirements))
