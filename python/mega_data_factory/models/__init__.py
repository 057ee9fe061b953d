"""PyTorch model operators (imported lazily: importing this package does not import torch)."""
