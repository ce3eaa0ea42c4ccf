"""Tools the model may use: MCP servers from config.toml, their tools, calls and approval."""
