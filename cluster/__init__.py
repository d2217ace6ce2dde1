"""Cluster-side components: the embedded control plane and the reconciler."""
