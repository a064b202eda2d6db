"""The video pipeline: run config (``config``), work planning and resume (``plan``, ``outdir``,
``preflight``), Ray Data stages (``stages``, ``decode``), the Ray and single-process runners (``ray_run``,
``local``, ``runner``), the output stage (``parts`` written by workers, ``sink`` and ``ledger`` on the
driver, ``commit`` tasks) and per-video tracking (``tracks``, ``retrack``)."""
