"""Fails early, in a plain sentence, when the browser tests' Chromium is missing."""

import os
import shutil
import sys

chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
if not (os.path.exists(chromium) or shutil.which("chromium")):
    sys.exit(
        f"Chromium was not found at {chromium}. The browser tests need Debian's Chromium: "
        "run `apt-get install -y chromium` (as root) or set CHROMIUM_PATH, "
        "then run `make test` again."
    )
