"""The terminal app's core: Kubernetes access, VM models and actions. It imports no Textual."""
