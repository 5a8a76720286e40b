"""The gridshift API: custom resources (group ``gridshift.io``) as pydantic models.

The CRD YAML in ``manifests/crds/`` is generated from these models, never edited by hand.
"""
