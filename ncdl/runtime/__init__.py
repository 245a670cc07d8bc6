"""Run exported ONNX models with onnxruntime, checking inputs against named axes."""

from ncdl.runtime.session import InputError, ModelLoadError, RunError, Session

__all__ = ["InputError", "ModelLoadError", "RunError", "Session"]
