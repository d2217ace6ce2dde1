"""kvtui: virtual machines on Kubernetes, managed from the terminal."""
