"""vramwise calculator: exact memory, fit and speed of open LLMs on named GPUs. Pure functions, no I/O but data."""

from agent_tools.errors import ConfigError, UnknownNameError, VramwiseError
from agent_tools.estimate import EstimateRequest, EstimateResult, estimate_memory

__all__ = [
    "ConfigError",
    "EstimateRequest",
    "EstimateResult",
    "UnknownNameError",
    "VramwiseError",
    "estimate_memory",
]
