from mlxkit.cli import main

raise SystemExit(main())
