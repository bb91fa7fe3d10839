from iamd.cli.main import main

raise SystemExit(main())
