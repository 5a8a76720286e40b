"""kopf handlers: each gathers a snapshot, calls a pure decision and applies what it returns."""
