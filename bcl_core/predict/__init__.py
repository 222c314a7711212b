"""Prediction at run time, on ONNX Runtime only (no torch): model sidecars and sessions, model
inputs, click-guided segmentation, ROI boxes, the whole case pipeline, Grad-CAM maps and the
model card. Used alike by the ``bcl`` command, the app and batch evaluation."""
