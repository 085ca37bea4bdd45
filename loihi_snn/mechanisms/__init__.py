"""The seeds' mechanisms, one folder each: integer rules, torch block, layer type, Lava process
and models, report. :mod:`.registry` holds ``LAYER_TYPES`` (file kind -> layer type), the one
registry, which the file readers import; the reports' subcommands are listed apart, in
:mod:`.reports` (``REPORTS``). This package imports none of its modules, so that registering the
reports' subcommands stays cheap."""
