from autokeras_lab.cli import main

raise SystemExit(main())
