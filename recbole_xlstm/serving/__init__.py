"""Recommendations from a trained checkpoint: top-k with titles and cold start (``recommend``), and per-user
recurrent states updated in O(1) per interaction (``streaming``)."""

from recbole_xlstm.serving.recommend import Recommendations, RecommendedItem, Recommender, UnknownItemError
from recbole_xlstm.serving.streaming import StreamingRecommender

__all__ = ["Recommendations", "RecommendedItem", "Recommender", "StreamingRecommender", "UnknownItemError"]
