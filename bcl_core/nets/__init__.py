"""PyTorch/MONAI model definitions (torch only: never imported by the inference path)."""
