"""Sandboxed Lua (lupa) running Sveltos-compatible event and health rules."""
