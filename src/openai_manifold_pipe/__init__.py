"""OpenAI Manifold Pipe: OpenAI and OpenAI-compatible models in Open WebUI."""

from .pipe import Pipe

__all__ = ["Pipe"]
