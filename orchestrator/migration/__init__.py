"""The make-before-break migration state machine and the traffic routers."""
