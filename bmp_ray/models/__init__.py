"""Models: the registry (``registry``), checkpoint resolution and loading (``weights``, ``build``), seeded
test checkpoints (``synth``) and the stage objects (``detector``, ``pose``, ``sam``)."""
