"""``loihi-snn results``: a comparison's variants over several seeds, trained or read, evaluated on
the fast backend, and its table (mean and standard deviation over seeds, the paper's numbers beside
them) as Markdown and JSON, plus a bar chart.

The package: :mod:`.comparison` (the file and the metrics), :mod:`.runs` (training, reading
and measuring the runs; :mod:`.measure`), :mod:`.report` (table, Markdown, JSON, figure).

Heavy modules (torch, Lava, matplotlib) are imported inside the functions.
"""

from .comparison import METRICS, Comparison, Variant, load_comparison
from .measure import Evaluation, evaluate
from .report import format_markdown, format_table, plot_report
from .runs import command_line, run_comparison

__all__ = [
    "METRICS",
    "Comparison",
    "Evaluation",
    "Variant",
    "command_line",
    "evaluate",
    "format_markdown",
    "format_table",
    "load_comparison",
    "plot_report",
    "run_comparison",
]
