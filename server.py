"""`python server.py`: the vramwise MCP server (kept at the repository root for IDE configs that point at it).

The server lives in `vramwise.server`; installed, it is the `vramwise-mcp` command.
"""

import sys

from vramwise.server import *  # noqa: F403  (re-exported for `import server`)
from vramwise.server import main

if __name__ == "__main__":
    sys.exit(main())
