from dlpde.cli import main

raise SystemExit(main())
