"""Member clusters: the only package that talks to Kubernetes APIs."""
