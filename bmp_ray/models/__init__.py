"""Models: checkpoint resolution and loading (the model registry and stages come with issue #3)."""
