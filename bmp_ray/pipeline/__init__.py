"""The video pipeline: run config (``config``), work planning and resume (``plan``), Ray Data stages
(``stages``), the Ray and single-process runners (``ray_run``, ``local``) and the result writer
(``writer``)."""
