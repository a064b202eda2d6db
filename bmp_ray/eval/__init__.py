"""Evaluation against ground truth (COCO through pycocotools)."""
