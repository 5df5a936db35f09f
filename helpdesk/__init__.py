"""The help desk: one HTTP port serving the MCP endpoint and a small chat page for colleagues."""
