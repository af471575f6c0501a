from langmem_mcp.cli import main

raise SystemExit(main())
