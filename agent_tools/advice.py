"""The advice tools: recommend_model ("which model fits my GPU?") and compare_precision ("14B int4 or 7B fp16?").

Both are deterministic: every candidate is sized by estimate_memory's engine, ranked by published benchmark
scores minus the published quality cost of its format (agent_tools.ranking), and carries its reason and sources.
"""

from agent_tools.compare import CompareRequest, CompareResult, compare_precision
from agent_tools.ranking import DEFAULT_LADDER, RANKING_RULE, format_quality, format_quality_of
from agent_tools.recommend import RecommendRequest, RecommendResult, catalog_cpu_bandwidth, recommend_model

__all__ = [
    "DEFAULT_LADDER",
    "RANKING_RULE",
    "CompareRequest",
    "CompareResult",
    "RecommendRequest",
    "RecommendResult",
    "catalog_cpu_bandwidth",
    "compare_precision",
    "format_quality",
    "format_quality_of",
    "recommend_model",
]
