"""Retrieval evaluation: mAP@k and P@k over a query/archive split."""
