"""NIR interchange. Python API: :func:`.to_nir.export_nir` (a network file to a NIR file),
:func:`.to_nir.to_nir` (a Graph to a NIR graph), :func:`.from_nir.import_nir` (a NIR file or
graph, quantised, to a graph file) and :func:`.from_nir.from_nir` (a NIR graph to a Graph and its
quantisation errors). Only the CLI imports this package (lazily: ``--help`` stays fast)."""
