"""Controllers built into the embedded control plane (kube-controller-manager's share of them)."""
