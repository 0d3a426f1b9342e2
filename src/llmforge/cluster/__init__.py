"""Cluster mode: the heavy work of ``ingest`` and ``structure`` on a Ray cluster (optional extra).

The project directory stays the single source of truth. Extraction and OCR run as one Ray task per
document (the file's bytes travel with the task, so a worker needs none of the driver's paths) and
embedding on a pool of Ray actors that each load the embedder once; the driver alone stores blobs
and writes the catalog and the index, through the same ``ingest_paths`` and ``structure_project`` a
local run uses. So a cluster run and a local run of the same files give the same catalog and index,
and a run killed half-way and run again converges without duplicates, as locally.

* :mod:`llmforge.cluster.airgap`: the environment, flags and files that keep Ray off the network.
* :mod:`llmforge.cluster.nodes`: ``cluster up|join|status|down``: Ray nodes started and stopped by
  the PIDs llmforge recorded.
* :mod:`llmforge.cluster.work`: :func:`cluster_ingest` and :func:`cluster_structure`.

The package imports nothing itself (``cluster down`` need not load the ingest pipeline), and
nothing here imports Ray at module level: without the extra, llmforge works and these functions
say in one line how to install it.
"""
