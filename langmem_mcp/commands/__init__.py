"""One module per `langmem-mcp` subcommand, found by the CLI at start.

Each module defines NAME (the command word), HELP (one line), `add_arguments(parser)` and
`run(args, settings) -> int`. Keep module-level imports light: `langmem-mcp` with no arguments
is what hosts spawn, and they wait on it.
"""
