from cryogui.cli import main

raise SystemExit(main())
