"""Models: the registry (``registry``), checkpoint resolution and loading (``weights``, ``build``) and
writing (``checkpoint``), seeded test checkpoints (``synth``) and the stage objects (``detector``,
``pose``, ``sam``)."""
