"""The planner: a pure function from (snapshot, now) to a plan. It imports no I/O library."""
