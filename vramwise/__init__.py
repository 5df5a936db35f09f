"""vramwise's application layer: the tool registry, the MCP server and the command line over the `agent_tools` core.

The core (`agent_tools`) is pure and never imports this package, the knowledge base, the assistant or the evals.
"""
